// Checkpoints' f16 and bf16 tensors load into f16 tensors as halves: f16 bit for bit (no f32 round
// trip, so even a NaN's payload survives), bf16 rounded to nearest even, with a warning naming the
// tensors whose values overflow f16's range.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, randArray } from '../helpers.ts';
import { loadStateDict } from '../../engine/train/load.ts';
import { Linear } from '../../engine/nn/index.ts';
import { cast } from '../../kernels/cast/cast.ts';
import { parseSafetensors, writeSafetensors } from '../../engine/io/safetensors.ts';
import { f16ToF32 } from '../../engine/core/half.ts';
import { roundToHalf } from '../../kernels/cast/reference.ts';
import type { HostTensor } from '../../engine/io/types.ts';

test.before(async () => { await setup(); });

test('loadStateDict into f16 parameters: f16 halves verbatim, bf16 rounded, overflow warned', async () => {
  const m = new Linear(5, 3);
  for (const k of ['weight', 'bias']) m.setTensor(k, cast(m.get(k), 'f16'));
  const w = randArray(15, -3, 3);
  w[4] = 1e5; // beyond f16: loads as Infinity, with a warning
  w[7] = -7e4;
  const host = new Map<string, HostTensor>([['weight', { dtype: 'bf16', shape: [3, 5], data: w }], ['bias', { dtype: 'f16', shape: [3], data: new Float32Array(3) }]]);
  const bytes = writeSafetensors(host);
  // Patch the bias's stored halves: a subnormal, -0 and a NaN with a payload an f32 round trip would not keep.
  const biasBits = [0x0001, 0x8000, 0x7d01];
  const ck = parseSafetensors(bytes), at = bytes.length - 6;
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(at, biasBits[0], true);
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(at + 2, biasBits[1], true);
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(at + 4, biasBits[2], true);
  const ck2 = parseSafetensors(bytes);
  assert.equal(Array.from(ck2.tensors.get('bias')!.half!), biasBits);
  const warnings: string[] = [], warn = console.warn;
  console.warn = (s: string) => { warnings.push(s); };
  try { loadStateDict(m, ck2.tensors, { allowNonFinite: true, source: 'half.safetensors' }); } finally { console.warn = warn; }
  assert.equal(Array.from(await m.get('bias').halfBits()), biasBits);
  const stored = ck.tensors.get('weight')!.data; // the bf16 values, decoded exactly
  const got = await m.get('weight').data();
  for (let i = 0; i < 15; i++) assert.is(got[i], roundToHalf(stored[i]), `weight[${i}]`);
  assert.is(got[4], Infinity);
  assert.is(got[7], -Infinity);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], /half\.safetensors: 1 tensor holds values beyond f16's range \(±65504\), loaded into f16 as ±Infinity: weight \(2 of 15\); keep these tensors in f32/);
  assert.is(f16ToF32(biasBits[0]), 2 ** -24);
  m.dispose();
});

test.run();
