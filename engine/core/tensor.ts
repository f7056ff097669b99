/**
 * GPU tensors: f32, i32 or f16, contiguous row-major, on pooled storage buffers. Reshape shares storage
 * (reference counted); `dispose()` drops this handle's reference. Scopes (`tidy`) dispose what an
 * expression created, and autograd nodes keep the tensors they saved alive until backward or release.
 */
import { runtime, requireF16 } from './runtime.ts';
import { ShapeError, ThawError } from './errors.ts';
import { fromHalfBits } from './half.ts';

/**
 * Element type of a tensor: 32-bit float, 32-bit signed integer, or IEEE half (f16, which needs the
 * adapter's 'shader-f16' feature; its buffers are padded to whole 4-byte words).
 */
export type DType = 'f32' | 'i32' | 'f16';
/** Sizes of a tensor's dimensions, outermost first (row-major). */
export type Shape = readonly number[];
export type TypedArray = Float32Array | Int32Array;

class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer) {}
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes per element of each dtype. */
export const ITEM_BYTES: Record<DType, number> = { f32: 4, i32: 4, f16: 2 };

/** Bytes a tensor of `n` elements of `dtype` occupies: rounded up to whole 4-byte words, at least one. */
export function storageBytes(n: number, dtype: DType): number {
  return Math.max(4, Math.ceil((n * ITEM_BYTES[dtype]) / 4) * 4);
}

/** Throws for an f16 tensor given to an op that has no f16 build: the message names the cast that fixes it. */
export function check32(op: string, arg: string, t: Tensor): void {
  if (t.dtype === 'f16') throw new ShapeError(`${op}: argument '${arg}' is f16, which ${op} does not support; cast(${arg}, 'f32') first`);
}

export function shapeStr(shape: Shape): string { return `[${shape.join(', ')}]`; }
/** Whether two shapes are equal, dimension by dimension. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Computes input gradients from the output gradient; entries for inputs not needed may be null. */
export type BackwardFn = (grad: Tensor, needs: boolean[], saved: Tensor[], into?: GradInto) => (Tensor | null)[];

/**
 * The gradients already gathered for a node's inputs when its backward runs (null: none yet, or the
 * input appears twice). A backward may add `grads[i]` into its own gradient for input i in the same
 * kernel (an epilogue) instead of leaving the sum to autograd, and then sets `used[i]`.
 */
export interface GradInto { readonly grads: readonly (Tensor | null)[]; readonly used: boolean[] }

export class Node {
  released = false;
  constructor(
    readonly op: string,
    readonly inputs: Tensor[],
    readonly saved: Tensor[],
    readonly backwardFn: BackwardFn,
  ) {}

  /** Frees the tensors saved for backward. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saved) t.dispose();
    this.saved.length = 0;
  }
}

let gradDepth = 0; // > 0 inside noGrad

/** Whether ops currently record autograd nodes. */
export function gradEnabled(): boolean { return gradDepth === 0; }

/** Runs `fn` without recording autograd nodes (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  gradDepth++;
  try { return fn(); } finally { gradDepth--; }
}

let nextId = 1;

/**
 * An n-dimensional array in GPU memory (f32 or i32, row-major). Ops return new tensors; free them
 * with `dispose()` or inside `tidy()`. With `requiresGrad`, the ops that use it are recorded for `backward()`.
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: number[];
  readonly size: number;
  /** Whether gradients flow to (or through) this tensor. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autograd. */
  node: Node | null = null;
  /** Optional name (parameters carry their state_dict key). */
  name?: string;
  private storage: Storage | null;

  /** Use the factory functions (`tensor`, `empty`, `zeros`, ...) rather than this constructor. */
  constructor(shape: Shape, readonly dtype: DType, storage: Storage) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError(`invalid shape ${shapeStr(shape)}: dimensions must be non-negative integers`);
    }
    this.shape = [...shape];
    this.size = numel(shape);
    this.storage = storage;
    track(this);
  }

  /** Number of dimensions. */
  get rank(): number { return this.shape.length; }
  /** Whether the tensor's GPU memory has been released. */
  get disposed(): boolean { return this.storage === null; }

  /** The GPU buffer holding this tensor's data (may be larger than `size` elements). */
  get buffer(): GPUBuffer {
    if (!this.storage) throw new ThawError('disposed', `tensor ${shapeStr(this.shape)}${this.name ? ` '${this.name}'` : ''} was disposed and cannot be used`);
    return this.storage.buffer;
  }

  /**
   * A new handle of `shape` on the same storage, which autograd does not see: no gradient flows from
   * it back to this tensor. So while ops record (outside `noGrad`) it refuses a tensor that takes part
   * in autograd; `reshape()` (engine/core/shape.ts) is the view that records.
   */
  alias(shape: Shape = this.shape): Tensor {
    if (gradEnabled() && (this.requiresGrad || this.node)) {
      throw new ThawError('alias-grad', `alias(): tensor ${shapeStr(this.shape)}${this.name ? ` '${this.name}'` : ''} requires grad, and gradients do not flow through an alias; use reshape(), which records, or alias under noGrad`);
    }
    return this.unrecordedView(shape);
  }

  /**
   * @internal `alias()` without its autograd check: a view autograd must not see. Only for a kernel's
   * own operands (the op that returns the result records it) and for the tensors autograd saves.
   */
  unrecordedView(shape: Shape = this.shape): Tensor {
    if (!this.storage) this.buffer; // throws the disposed error
    if (numel(shape) !== this.size) throw new ShapeError(`reshape: cannot view ${shapeStr(this.shape)} (${this.size} elements) as ${shapeStr(shape)}`);
    this.storage!.refs++;
    return new Tensor(shape, this.dtype, this.storage!);
  }

  /** Frees this handle; the buffer returns to the pool when no handle or saved reference remains. */
  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    if (--s.refs === 0) runtime().pool.release(s.buffer);
    untrack(this);
  }

  /**
   * Copies the data to the host: a Float32Array for f32 and for f16 (every half is exact in f32), an
   * Int32Array for i32 (pass the type for i32).
   */
  async data<T extends TypedArray = Float32Array>(): Promise<T> {
    if (this.dtype === 'f16') return fromHalfBits(await this.halfBits()) as T;
    const bytes = await runtime().read(this.buffer, this.size * 4);
    return (this.dtype === 'f32' ? new Float32Array(bytes) : new Int32Array(bytes)) as T;
  }

  /** The raw IEEE half bits of an f16 tensor. */
  async halfBits(): Promise<Uint16Array> {
    if (this.dtype !== 'f16') throw new ShapeError(`halfBits(): tensor ${shapeStr(this.shape)} has dtype ${this.dtype}, expected f16`);
    return new Uint16Array(await runtime().read(this.buffer, this.size * 2));
  }

  /** The data as a nested-free plain array. */
  async array(): Promise<number[]> { return Array.from(await this.data()); }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item(): tensor has shape ${shapeStr(this.shape)}, expected one element`);
    return (await this.data())[0];
  }

  /** `Tensor(shape, dtype)`, for logs. */
  toString(): string { return `Tensor(${shapeStr(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`; }

  /** @internal creates a tensor on a freshly acquired buffer. */
  static alloc(shape: Shape, dtype: DType = 'f32', what?: string): Tensor {
    if (dtype === 'f16') requireF16();
    const buf = runtime().pool.acquire(storageBytes(numel(shape), dtype), what ?? shape, dtype === 'f16' ? ' f16' : '');
    return new Tensor(shape, dtype, new Storage(buf));
  }
}

// ---------------------------------------------------------------------------------------------
// Scopes: every tensor created inside `tidy` is disposed at its end unless returned or kept.

interface Scope { tensors: Set<Tensor>; nodes: Node[] }
const scopes: Scope[] = [];

function track(t: Tensor): void {
  const s = scopes[scopes.length - 1];
  if (s) s.tensors.add(t);
}
function untrack(t: Tensor): void {
  const s = scopes[scopes.length - 1];
  if (s) s.tensors.delete(t);
}

/** @internal registers an autograd node with the innermost scope. */
export function trackNode(n: Node): void {
  const s = scopes[scopes.length - 1];
  if (s) s.nodes.push(n);
}

/** Removes tensors from every enclosing scope so they outlive it. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.tensors.delete(t);
  return t;
}

/** @internal Every tensor in a value (tensor, array or record), in order. */
export function collect(r: unknown, out: Tensor[]): void {
  if (r instanceof Tensor) out.push(r);
  else if (Array.isArray(r)) for (const x of r) collect(x, out);
  else if (r && typeof r === 'object') for (const x of Object.values(r)) collect(x, out);
}

/**
 * Runs `fn` and disposes every tensor it created except those it returns. Autograd nodes created
 * inside are released unless a returned tensor still depends on them.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tensors: new Set(), nodes: [] };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope.tensors) t.dispose();
    for (const n of scope.nodes) n.release();
    throw e;
  }
  scopes.pop();
  const kept: Tensor[] = [];
  collect(result!, kept);
  const keptSet = new Set(kept);
  for (const t of scope.tensors) if (!keptSet.has(t)) t.dispose();
  const parent = scopes[scopes.length - 1];
  for (const t of kept) if (parent && !t.disposed) parent.tensors.add(t);
  // Nodes reachable from returned tensors stay alive (the caller may still call backward).
  const reachable = new Set<Node>();
  const stack: Tensor[] = [...kept];
  while (stack.length) {
    const t = stack.pop()!;
    const n = t.node;
    if (!n || n.released || reachable.has(n)) continue;
    reachable.add(n);
    stack.push(...n.inputs);
  }
  for (const n of scope.nodes) {
    if (reachable.has(n)) parent?.nodes.push(n);
    else n.release();
  }
  return result!;
}

/** Disposes every tensor in a value (tensor, array or record). */
export function dispose(v: unknown): void {
  const ts: Tensor[] = [];
  collect(v, ts);
  for (const t of ts) t.dispose();
}
