/**
 * Modules with named parameters and buffers. A parameter's key is its attribute path, which is the
 * checkpoint key (PyTorch `state_dict` naming: `layer1.0.conv1.weight`, `bn1.running_mean`).
 *
 * Children, parameters and buffers are registered explicitly (`this.child('conv1', ...)`,
 * `this.param('weight', shape, init)`) so the constructor declares names and shapes and the loader
 * can check them against a checkpoint.
 */
import { Tensor, keep } from '../core/tensor.ts';
import { tensor } from '../core/factory.ts';
import { ThawError } from '../core/errors.ts';

/** Initial values for a parameter or buffer of `n` elements. */
export type Init = (n: number, shape: number[]) => Float32Array;

/**
 * Base class of layers and models: named parameters, buffers and child modules (their dotted paths
 * are the checkpoint keys), training/inference mode, and `forward`.
 */
export abstract class Module {
  /** Whether the module is in training mode (`train()`/`eval()`). */
  training = true;
  protected readonly _children = new Map<string, Module>();
  protected readonly _params = new Map<string, Tensor>();
  protected readonly _buffers = new Map<string, Tensor>();

  /** The forward pass. */
  abstract forward(...args: any[]): any;

  /** Registers a child module under `name` (the attribute path segment). */
  protected child<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  /** Creates and registers a trainable parameter. */
  protected param(name: string, shape: number[], init: Init): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = keep(tensor(init(n, shape), shape));
    t.requiresGrad = true;
    t.name = name;
    this._params.set(name, t);
    return t;
  }

  /** Creates and registers a non-trainable buffer (running statistics, counters). */
  protected buffer(name: string, shape: number[], init: Init): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = keep(tensor(init(n, shape), shape));
    t.name = name;
    this._buffers.set(name, t);
    return t;
  }

  /** Direct children, in registration order. */
  namedChildren(): [string, Module][] { return [...this._children]; }

  /** Every descendant module with its dotted path ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [k, c] of this._children) out.push(...c.namedModules(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  /** Parameters keyed by their full dotted path, in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [k, p] of this._params) out.push([prefix ? `${prefix}.${k}` : k, p]);
    for (const [k, c] of this._children) out.push(...c.namedParameters(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  /** Buffers keyed by their full dotted path. */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [k, b] of this._buffers) out.push([prefix ? `${prefix}.${k}` : k, b]);
    for (const [k, c] of this._children) out.push(...c.namedBuffers(prefix ? `${prefix}.${k}` : k));
    return out;
  }

  /** Every parameter, in registration order. */
  parameters(): Tensor[] { return this.namedParameters().map(([, p]) => p); }

  /** Parameters that currently require gradients. */
  trainableParameters(): [string, Tensor][] { return this.namedParameters().filter(([, p]) => p.requiresGrad); }

  /** Parameters and buffers together, keyed like PyTorch's `state_dict()`. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Looks a parameter or buffer up by key. */
  get(key: string): Tensor {
    const t = this.stateDict().get(key);
    if (!t) throw new ThawError('unknown-key', `no parameter or buffer named '${key}'`);
    return t;
  }

  /** Replaces a registered parameter/buffer tensor (used by loaders); disposes the old one. */
  setTensor(key: string, t: Tensor): void {
    const dot = key.lastIndexOf('.');
    const owner = dot < 0 ? this : this.namedModules().find(([p]) => p === key.slice(0, dot))?.[1];
    const name = key.slice(dot + 1);
    if (!owner) throw new ThawError('unknown-key', `no module owns '${key}'`);
    const map = owner._params.has(name) ? owner._params : owner._buffers.has(name) ? owner._buffers : null;
    if (!map) throw new ThawError('unknown-key', `no parameter or buffer named '${key}'`);
    const old = map.get(name)!;
    t.requiresGrad = old.requiresGrad;
    t.name = name;
    keep(t);
    map.set(name, t);
    owner.onTensorReplaced(name, t);
    if (old !== t) old.dispose();
  }

  /**
   * Called by `setTensor` after the parameter or buffer `name` of this module was replaced by `t`
   * (checkpoint loads), before the old tensor is disposed: a layer that caches something derived from
   * its tensors overrides it to drop the cache. The default does nothing.
   */
  protected onTensorReplaced(_name: string, _t: Tensor): void {}

  /** Training mode (dropout active, batch-norm uses batch statistics unless frozen). */
  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }

  /** Inference mode. */
  eval(): this { return this.train(false); }

  /** Calls forward. */
  call(...args: any[]): any { return this.forward(...args); }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, t] of this.stateDict()) { t.grad?.dispose(); t.dispose(); }
  }
}

/** Fills with zeros. */
export const zerosInit: Init = (n) => new Float32Array(n);
/** Fills with ones. */
export const onesInit: Init = (n) => new Float32Array(n).fill(1);
/** Kaiming-uniform as PyTorch's Conv/Linear default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) scaled by sqrt(1/3)*sqrt(3). */
export function uniformInit(bound: number, rng: () => number = Math.random): Init {
  return (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rng() * 2 - 1) * bound;
    return a;
  };
}
