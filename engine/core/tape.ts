/**
 * Recording ops on the autograd tape. An op records a node only when gradients are enabled and some
 * input requires them, so a frozen prefix of a network records nothing: no saved activations, no
 * backward kernels below the lowest trainable layer. Each op's backward function sits beside its
 * forward in kernels/<op>/ and computes only the input gradients asked for (`needs`);
 * engine/autograd/backward.ts walks the tape.
 */
import { Tensor, Node, type BackwardFn, keep, trackNode, gradEnabled } from './tensor.ts';
import { activeTuning, underTuning } from './tuning.ts';

/**
 * Records `out` as produced by `op` from `inputs`. `save` lists tensors backward needs; they are
 * kept alive (by reference) even if the caller disposes them. An op recorded under a per-call tuning
 * (an op's `tuning` option, withTuning()) runs its backward under the same tuning.
 */
export function record(op: string, inputs: Tensor[], out: Tensor, backward: BackwardFn, save: Tensor[] = []): Tensor {
  if (!gradEnabled()) return out;
  let any = false;
  for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) { any = true; break; }
  if (!any) return out;
  out.requiresGrad = true;
  const saved: Tensor[] = [];
  for (let i = 0; i < save.length; i++) saved.push(keep(save[i].unrecordedView()));
  const t = activeTuning();
  const node = new Node(op, inputs, saved, t ? (g, needs, sv, into) => underTuning(t, () => backward(g, needs, sv, into)) : backward);
  out.node = node;
  trackNode(node);
  return out;
}

/** Marks a tensor as a trainable leaf. */
export function variable(t: Tensor, name?: string): Tensor {
  t.requiresGrad = true;
  if (name) t.name = name;
  return keep(t);
}

