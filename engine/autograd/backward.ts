/**
 * Reverse-mode autograd: walks the tape that ops record (engine/core/tape.ts) from a root back to
 * the trainable leaves, calling each node's backward function.
 */
import { Tensor, keep, tidy, noGrad, type GradInto } from '../core/tensor.ts';
import { ShapeError, ThawError } from '../core/errors.ts';
import { onesLike } from '../core/factory.ts';
import { add } from '../../kernels/index.ts';

/**
 * Back-propagates from `root` (a scalar unless `grad` is given). Gradients accumulate into `.grad`
 * of leaf tensors with `requiresGrad`. The graph is released as it is consumed unless `retainGraph`.
 */
export function backward(root: Tensor, grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
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
    grads.set(root, grad ? grad.unrecordedView(root.shape) : onesLike(root));
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.node;
      if (!node) {
        // A leaf: accumulate into .grad, which outlives this scope.
        if (t.grad) {
          const sum = add(t.grad, g);
          t.grad.dispose();
          t.grad = keep(sum);
        } else {
          t.grad = keep(g.shape.length === t.shape.length ? g : g.unrecordedView(t.shape));
        }
        continue;
      }
      const inputs = node.inputs, n = inputs.length;
      const needs: boolean[] = new Array(n);
      const gathered: (Tensor | null)[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const inp = inputs[i];
        needs[i] = inp.requiresGrad;
        // Gradients gathered so far, which the backward may add into its own in the same kernel.
        gathered[i] = needs[i] && inputs.indexOf(inp) === inputs.lastIndexOf(inp) ? grads.get(inp) ?? null : null;
      }
      const into: GradInto = { grads: gathered, used: [] };
      const gs = noGrad(() => node.backwardFn(g, needs, node.saved, into));
      if (!opts.retainGraph) node.release();
      for (let i = 0; i < n; i++) {
        const inp = inputs[i], gi = gs[i];
        if (!needs[i] || !gi) continue;
        if (gi.size !== inp.size) throw new ShapeError(`backward of '${node.op}': gradient for input ${i} has shape [${gi.shape}], input has [${inp.shape}]`);
        const prev = grads.get(inp);
        grads.set(inp, prev && !into.used[i] ? noGrad(() => add(prev, gi)) : gi);
      }
    }
  });
}
