/**
 * The adapter from a Keras checkpoint's weights to the builder's state-dict keys, in one place:
 *
 *   <layer>/kernel            Conv2D           [kh, kw, in/groups, out] → <layer>.weight [out, in/groups, kh, kw]
 *   <layer>/depthwise_kernel  DepthwiseConv2D  [kh, kw, in, mult]       → <layer>.weight [in*mult, 1, kh, kw]
 *   <layer>/kernel            Dense            [in, out]                → <layer>.weight [out, in]
 *   <layer>/bias                                                        → <layer>.bias
 *   <layer>/gamma, beta, moving_mean, moving_variance (BatchNormalization)
 *                                             → <layer>.weight, .bias, .running_mean, .running_var
 *
 * The layout converters are engine/io/keras.ts's; the layer's class (from the topology), not the
 * tensor's rank, decides which applies. Weight names may carry scopes (`model/conv2d_1/kernel:0`):
 * the nearest path segment naming a layer wins. Names that match no layer keep their name so the
 * loader reports them as unexpected. A BatchNormalization with `scale: false` / `center: false`
 * gets a ones weight / zeros bias, since thaw's BatchNorm2d is affine or not as a whole.
 */
import type { HostTensor } from '../../engine/io/types.ts';
import { kerasConvToTorch, kerasDenseToTorch, kerasDepthwiseToTorch } from '../../engine/io/keras.ts';
import { KerasTopologyError, type Topology } from './topology.ts';

type Convert = (t: HostTensor) => HostTensor;
const same: Convert = (t) => t;

/** Keras parameter name → [our name, layout conversion], per layer class. */
const RULES: Record<string, Record<string, [string, Convert]>> = {
  Conv2D: { kernel: ['weight', kerasConvToTorch], bias: ['bias', same] },
  DepthwiseConv2D: { depthwise_kernel: ['weight', kerasDepthwiseToTorch], bias: ['bias', same] },
  Dense: { kernel: ['weight', kerasDenseToTorch], bias: ['bias', same] },
  BatchNormalization: {
    gamma: ['weight', same], beta: ['bias', same], moving_mean: ['running_mean', same], moving_variance: ['running_var', same],
  },
};

/** Converts a Keras checkpoint's tensors (as parsed: Keras names and layouts) to the builder's keys and layouts. */
export function kerasStateDict(tensors: Map<string, HostTensor>, topology: Topology): Map<string, HostTensor> {
  const classOf = new Map(topology.layers.map((l) => [l.name, l.className]));
  const out = new Map<string, HostTensor>();
  const from = new Map<string, string>();
  for (const [name, t] of tensors) {
    const parts = name.replace(/:\d+$/, '').split('/');
    const param = parts.pop()!;
    let layer: string | undefined;
    for (let i = parts.length - 1; i >= 0 && layer === undefined; i--) if (classOf.has(parts[i])) layer = parts[i];
    const rule = layer !== undefined ? RULES[classOf.get(layer)!]?.[param] : undefined;
    const key = rule ? `${layer}.${rule[0]}` : name;
    const prev = from.get(key);
    if (prev !== undefined) throw new KerasTopologyError(`keras: weights '${prev}' and '${name}' both map to '${key}'`);
    from.set(key, name);
    out.set(key, rule ? rule[1](t) : t);
  }
  for (const l of topology.layers) {
    if (l.className !== 'BatchNormalization') continue;
    const mean = out.get(`${l.name}.running_mean`);
    if (!mean) continue;
    const n = mean.shape[0];
    if (l.config.scale === false && !out.has(`${l.name}.weight`)) out.set(`${l.name}.weight`, { dtype: 'f32', shape: [n], data: new Float32Array(n).fill(1) });
    if (l.config.center === false && !out.has(`${l.name}.bias`)) out.set(`${l.name}.bias`, { dtype: 'f32', shape: [n], data: new Float32Array(n) });
  }
  return out;
}
