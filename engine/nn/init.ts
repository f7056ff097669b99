/** PyTorch's default initialisation of convolution and linear layers. */
import { uniformInit, type Init } from './module.ts';

/**
 * kaiming_uniform_(a=sqrt(5)) as torch.nn.Conv2d / Linear reset_parameters(): U(-b, b) with
 * b = gain * sqrt(3 / fanIn), gain = sqrt(2 / (1 + 5)), which is 1 / sqrt(fanIn). The bias uses the
 * same bound. `rng` yields uniforms in [0, 1) (default Math.random; pass a seeded one to reproduce).
 */
export function torchDefaultInit(fanIn: number, rng: () => number = Math.random): Init {
  return uniformInit(fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0, rng);
}
