/** View ops that share storage. */
import { Tensor, type Shape, numel, shapeStr } from './tensor.ts';
import { ShapeError } from './errors.ts';
import { record } from './tape.ts';

/** Reshapes without copying; one dimension may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(s.filter((_, i) => i !== neg));
    if (rest === 0 || x.size % rest) throw new ShapeError(`reshape: cannot infer -1 in ${shapeStr(shape)} for ${x.size} elements`);
    s[neg] = x.size / rest;
  }
  const out = x.unrecordedView(s);
  return record('reshape', [x], out, (g) => [g.alias(x.shape)]);
}
