/** torch.nn.Sequential: children named '0', '1', ... so parameter keys match PyTorch's. */
import { Module } from './module.ts';
import { ThawError } from '../core/errors.ts';

/** Runs its modules in order, each on the previous one's output (torch.nn.Sequential). */
export class Sequential extends Module {
  private readonly layers: Module[] = [];
  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Adds a module at the end, named by its index. */
  append(m: Module): this {
    this.child(String(this.layers.length), m);
    this.layers.push(m);
    return this;
  }

  /** Number of modules. */
  get length(): number { return this.layers.length; }

  /** The i-th module (negative counts from the end). */
  at(i: number): Module | undefined { return this.layers.at(i); }

  /** Replaces the i-th module (keeps its key, e.g. a new classifier head at the same index). */
  set(i: number, m: Module): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.layers.length) throw new ThawError('argument', `Sequential.set: index ${i} is out of range 0..${this.layers.length - 1}`);
    this.layers[i] = m;
    this._children.set(String(i), m);
  }

  /** Feeds the input through every module in order. */
  forward(x: any): any {
    for (const m of this.layers) x = m.forward(x);
    return x;
  }
}
