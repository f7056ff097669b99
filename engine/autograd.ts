/**
 * Minimal reverse-mode autograd over a tape of nodes.
 *
 * An op records a node only when gradients are enabled and some input requires them, so a frozen
 * prefix of a network records nothing: no saved activations, no backward kernels below the lowest
 * trainable layer. Each op's backward function sits beside its forward in kernels/<op>/<op>.ts and
 * computes only the input gradients asked for (`needs`).
 */
import { Tensor, keep, tidy, trackNode } from './tensor.ts';
import { ShapeError, ThawError } from './errors.ts';

/** Computes input gradients from the output gradient; entries for inputs not needed may be null. */
export type BackwardFn = (grad: Tensor, needs: boolean[], saved: Tensor[]) => (Tensor | null)[];

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

/**
 * Records `out` as produced by `op` from `inputs`. `save` lists tensors backward needs; they are
 * kept alive (by reference) even if the caller disposes them.
 */
export function record(op: string, inputs: Tensor[], out: Tensor, backward: BackwardFn, save: Tensor[] = []): Tensor {
  if (gradDepth > 0 || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  const saved = save.map((t) => keep(t.unrecordedView()));
  const node = new Node(op, inputs, saved, backward);
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

type Ops = {
  add(a: Tensor, b: Tensor): Tensor;
  onesLike(t: Tensor): Tensor;
};
let ops: Ops | null = null;
/** @internal the elementwise kernels register the two ops backward needs (avoids an import cycle). */
export function registerAutogradOps(o: Ops): void { ops = o; }

/**
 * Back-propagates from `root` (a scalar unless `grad` is given). Gradients accumulate into `.grad`
 * of leaf tensors with `requiresGrad`. The graph is released as it is consumed unless `retainGraph`.
 */
export function backward(root: Tensor, grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
  if (!ops) throw new ThawError('internal', 'autograd ops are not registered');
  const O = ops;
  if (!root.requiresGrad) throw new ThawError('no-grad', 'backward(): the tensor does not require grad (no trainable parameter contributed to it, or it was computed under noGrad)');
  if (!grad && root.size !== 1) throw new ShapeError(`backward(): root has shape [${root.shape}]; pass a gradient for non-scalar outputs`);
  if (grad && grad.size !== root.size) throw new ShapeError(`backward(): gradient has ${grad.size} elements, root has ${root.size}`);
  // Topological order over nodes reachable from root.
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const visit = (t: Tensor) => {
    const stack: [Tensor, boolean][] = [[t, false]];
    while (stack.length) {
      const [x, done] = stack.pop()!;
      if (done) { order.push(x); continue; }
      if (seen.has(x)) continue;
      seen.add(x);
      stack.push([x, true]);
      if (x.node) {
        if (x.node.released) throw new ThawError('graph-released', `backward(): the graph through '${x.node.op}' was already released (backward ran before, or its tidy scope ended). Pass { retainGraph: true } or run forward again.`);
        for (const i of x.node.inputs) if (i.requiresGrad && !seen.has(i)) stack.push([i, false]);
      }
    }
  };
  visit(root);
  tidy(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, grad ? grad.unrecordedView(root.shape) : O.onesLike(root));
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (!node) {
        // A leaf: accumulate into .grad, which outlives this scope.
        if (t.grad) {
          const sum = O.add(t.grad, g);
          t.grad.dispose();
          t.grad = keep(sum);
        } else {
          t.grad = keep(g.shape.length === t.shape.length ? g : g.unrecordedView(t.shape));
        }
        continue;
      }
      const needs = node.inputs.map((i) => i.requiresGrad);
      const gs = noGrad(() => node.backwardFn(g, needs, node.saved));
      if (!opts.retainGraph) node.release();
      node.inputs.forEach((inp, i) => {
        const gi = gs[i];
        if (!needs[i] || !gi) return;
        if (gi.size !== inp.size) throw new ShapeError(`backward of '${node.op}': gradient for input ${i} has shape [${gi.shape}], input has [${inp.shape}]`);
        const prev = grads.get(inp);
        grads.set(inp, prev ? noGrad(() => O.add(prev, gi)) : gi);
      });
    }
  });
}
