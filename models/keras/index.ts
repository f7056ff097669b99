/**
 * The Keras / TF.js layers model builder: topology → Module, checkpoint weights → state dict.
 *
 *   const ckpt = await loadCheckpointFile('model.json');           // engine/io/fs.ts
 *   const { model, report } = kerasClassifierFromCheckpoint(ckpt);  // NCHW in, logits out
 */
import type { Checkpoint } from '../../engine/io/types.ts';
import { loadStateDict, describeLoad, type LoadReport } from '../../engine/train/load.ts';
import { ThawError } from '../../engine/core/errors.ts';
import { KerasTopologyError, parseTopology } from './topology.ts';
import { kerasStateDict } from './weights.ts';
import { KerasModel, type KerasModelOptions } from './model.ts';
import { KerasClassifier, type KerasClassifierOptions } from './classifier.ts';

export { parseTopology, KerasTopologyError, type Topology, type LayerSpec } from './topology.ts';
export { SUPPORTED_LAYERS, type KerasLayer } from './layers.ts';
export { KerasModel, runGraph, type KerasModelOptions, type Step } from './model.ts';
export { KerasClassifier, KerasHead, type KerasClassifierOptions } from './classifier.ts';
export { kerasStateDict } from './weights.ts';

function topologyOf(ckpt: Checkpoint) {
  const t = ckpt.metadata.modelTopology;
  if (!t) throw new KerasTopologyError(`keras: the ${ckpt.format} checkpoint has no modelTopology (weights only?)`);
  return parseTopology(t);
}

/**
 * Loads a checkpoint's weights into a model built from its topology. `strict` (default true) throws
 * on any missing, unexpected or mis-shaped key, except the BatchNorm counters Keras does not keep.
 */
function load<M extends KerasModel>(model: M, ckpt: Checkpoint, strict: boolean, source?: string): { model: M; report: LoadReport } {
  try {
    const report = loadStateDict(model, kerasStateDict(ckpt.tensors, model.topology), { source });
    const missing = report.missing.filter((k) => !k.endsWith('.num_batches_tracked'));
    if (strict && (missing.length || report.unexpected.length || report.mismatched.length)) {
      throw new ThawError('state-dict', `keras: the checkpoint does not fit the model built from its topology:\n${describeLoad({ ...report, missing }, true)}`);
    }
    return { model, report };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** The whole Keras model (its `forward` is Keras' `predict`, output activation included), weights loaded. */
export function kerasModelFromCheckpoint(ckpt: Checkpoint, opts: KerasModelOptions & { strict?: boolean; source?: string } = {}): { model: KerasModel; report: LoadReport } {
  return load(new KerasModel(topologyOf(ckpt), opts), ckpt, opts.strict ?? true, opts.source);
}

/** The Keras model as a Classifier (trunk → features, head → logits), weights loaded. */
export function kerasClassifierFromCheckpoint(ckpt: Checkpoint, opts: KerasClassifierOptions & { strict?: boolean; source?: string } = {}): { model: KerasClassifier; report: LoadReport } {
  return load(new KerasClassifier(topologyOf(ckpt), opts), ckpt, opts.strict ?? true, opts.source);
}
