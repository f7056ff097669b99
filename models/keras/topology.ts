/**
 * Reading a Keras model topology (the `modelTopology` of a TF.js layers `model.json`) into a flat,
 * topologically ordered list of layers with the names of their inputs. Sequential models become a
 * chain; Functional models follow `inbound_nodes` (Keras 2 lists `[[name, node, tensor, kwargs]]`
 * and Keras 3 `{args: [...keras_history...]}` are both read). Shared layers (called twice),
 * multi-output layers, nested models and multiple model inputs/outputs are refused by name.
 */
import { ThawError } from '../../engine/core/errors.ts';

/** One Keras layer: its class, its config as stored, and the layers whose outputs it takes. */
export interface LayerSpec {
  name: string;
  className: string;
  config: Record<string, any>;
  /** Names of the layers feeding this one, in call order (empty for the InputLayer). */
  inputs: string[];
}

export interface Topology {
  name: string;
  /** Topologically ordered (every layer after its inputs), in the file's order where it allows. */
  layers: LayerSpec[];
  input: string;
  output: string;
  /** Keras batch input shape without the batch dim, NHWC order as stored: [H, W, C] (null for free sizes). */
  inputShape: (number | null)[] | null;
}

/** The error every unsupported or malformed topology raises. */
export class KerasTopologyError extends ThawError {
  constructor(message: string) { super('keras', message); }
}

const fail = (msg: string): never => { throw new KerasTopologyError(msg); };
const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Model classes that would nest a model inside another (not supported: flatten it in Keras first). */
const NESTED = new Set(['Sequential', 'Model', 'Functional']);

/** Parses a `modelTopology` object (or the `model_config` inside it). */
export function parseTopology(modelTopology: unknown): Topology {
  if (!isObj(modelTopology)) return fail('keras: modelTopology must be an object (the model.json field)');
  const mc = isObj(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  const cls = mc.class_name;
  if (cls === 'Sequential') return sequential(mc.config);
  if (cls === 'Model' || cls === 'Functional') return functional(mc.config);
  return fail(`keras: model class '${String(cls)}' is not supported (expected Sequential, Model or Functional)`);
}

function layerName(l: Record<string, any>): string {
  const n = l.name ?? l.config?.name;
  if (typeof n !== 'string' || !n) fail(`keras: a ${l.class_name} layer has no name`);
  // The name becomes a state-dict key segment, so it must not contain the separator.
  if (n.includes('.')) fail(`keras: layer name '${n}' contains '.', which cannot be a parameter key segment`);
  return n;
}

function checkLayer(l: unknown, i: number): Record<string, any> {
  if (!isObj(l) || typeof l.class_name !== 'string' || !isObj(l.config)) return fail(`keras: layer #${i} is not {class_name, config}`);
  if (NESTED.has(l.class_name)) fail(`keras: layer '${l.name ?? l.config.name}' is a nested ${l.class_name}; nested models are not supported`);
  return l;
}

function inputShapeOf(cfg: Record<string, any>): (number | null)[] | null {
  const s = cfg.batch_input_shape ?? cfg.batch_shape;
  return Array.isArray(s) ? s.slice(1) : null;
}

function sequential(config: unknown): Topology {
  const list = Array.isArray(config) ? config : isObj(config) ? config.layers : null;
  if (!Array.isArray(list) || !list.length) return fail('keras: Sequential model has no layers');
  const raw = list.map(checkLayer);
  const layers: LayerSpec[] = [];
  let inputShape: (number | null)[] | null = null;
  if (raw[0].class_name !== 'InputLayer') {
    const s = inputShapeOf(raw[0].config);
    if (!s) return fail(`keras: the first layer '${layerName(raw[0])}' of the Sequential model declares no batch_input_shape`);
    inputShape = s;
    layers.push({ name: '__input__', className: 'InputLayer', config: { batch_input_shape: [null, ...s] }, inputs: [] });
  }
  for (const l of raw) {
    const prev = layers[layers.length - 1];
    if (l.class_name === 'InputLayer') {
      if (prev) fail(`keras: InputLayer '${layerName(l)}' is not the first layer`);
      inputShape = inputShapeOf(l.config);
    }
    layers.push({ name: layerName(l), className: l.class_name, config: l.config, inputs: prev ? [prev.name] : [] });
  }
  checkUnique(layers);
  const name = isObj(config) && typeof config.name === 'string' ? config.name : 'sequential';
  return { name, layers, input: layers[0].name, output: layers[layers.length - 1].name, inputShape };
}

/** Collects [layer, node, tensor] histories from a Keras 3 call-argument tree. */
function histories(v: unknown, out: unknown[][]): void {
  if (Array.isArray(v)) { for (const x of v) histories(x, out); return; }
  if (!isObj(v)) return;
  if (Array.isArray(v.config?.keras_history)) { out.push(v.config.keras_history); return; }
  for (const x of Object.values(v)) histories(x, out);
}

function inboundOf(l: Record<string, any>, name: string): string[] {
  const nodes = l.inbound_nodes ?? [];
  if (!Array.isArray(nodes)) return fail(`keras: layer '${name}' has malformed inbound_nodes`);
  if (nodes.length > 1) fail(`keras: layer '${name}' is called ${nodes.length} times (shared layers are not supported)`);
  if (!nodes.length) return [];
  const refs: unknown[][] = [];
  if (Array.isArray(nodes[0])) for (const r of nodes[0]) refs.push(r);
  else histories(nodes[0].args ?? nodes[0], refs);
  return refs.map((r) => {
    if (!Array.isArray(r) || typeof r[0] !== 'string') return fail(`keras: layer '${name}' has a malformed inbound reference ${JSON.stringify(r)}`);
    if ((r[1] ?? 0) !== 0 || (r[2] ?? 0) !== 0) fail(`keras: layer '${name}' takes output ${r[2]} of call ${r[1]} of '${r[0]}' (shared or multi-output layers are not supported)`);
    return r[0];
  });
}

function endpoints(v: unknown, what: string): string {
  // [[name, 0, 0]] (Keras 2) or [name, 0, 0] (Keras 3, single endpoint)
  const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length !== 1 || !Array.isArray(list[0]) || typeof list[0][0] !== 'string') {
    return fail(`keras: the model must have exactly one ${what}, got ${JSON.stringify(v)}`);
  }
  return list[0][0];
}

function functional(config: unknown): Topology {
  if (!isObj(config) || !Array.isArray(config.layers) || !config.layers.length) return fail('keras: Functional model has no layers');
  const specs = config.layers.map((l: unknown, i: number) => {
    const c = checkLayer(l, i);
    const name = layerName(c);
    return { name, className: c.class_name, config: c.config, inputs: inboundOf(c, name) } as LayerSpec;
  });
  checkUnique(specs);
  const byName = new Map(specs.map((s: LayerSpec) => [s.name, s]));
  for (const s of specs) for (const i of s.inputs) if (!byName.has(i)) fail(`keras: layer '${s.name}' takes '${i}', which is not a layer of the model`);
  // Depth-first topological order, visiting layers in file order (already topological in practice).
  const order: LayerSpec[] = [], state = new Map<string, 1 | 2>();
  const visit = (s: LayerSpec) => {
    const st = state.get(s.name);
    if (st === 2) return;
    if (st === 1) fail(`keras: the graph has a cycle through '${s.name}'`);
    state.set(s.name, 1);
    for (const i of s.inputs) visit(byName.get(i)!);
    state.set(s.name, 2);
    order.push(s);
  };
  specs.forEach(visit);
  const input = endpoints(config.input_layers, 'input');
  const output = endpoints(config.output_layers, 'output');
  const inLayer = byName.get(input);
  if (!inLayer || inLayer.className !== 'InputLayer') fail(`keras: input '${input}' is not an InputLayer of the model`);
  if (!byName.has(output)) fail(`keras: output '${output}' is not a layer of the model`);
  for (const s of order) if (s.className === 'InputLayer' && s.name !== input) fail(`keras: the model has a second input '${s.name}'`);
  return { name: typeof config.name === 'string' ? config.name : 'model', layers: order, input, output, inputShape: inputShapeOf(inLayer!.config) };
}

function checkUnique(layers: LayerSpec[]): void {
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) fail(`keras: two layers are named '${l.name}'`);
    seen.add(l.name);
  }
}
