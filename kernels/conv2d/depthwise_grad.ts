/**
 * Depthwise weight gradient (dw of a conv with groups = Cin): split-K kernels whose partial sums the
 * reduce kernel adds up. depthwise_dw_rows.wgsl streams down output rows with a
 * ring of x row windows (depthwise_rows.ts; each x value loaded about once); depthwise_dw.wgsl,
 * which reloads x per tap row, is the fallback when the ring would not fit the register budget
 * (tall dilated kernels). Both unroll
 * their tap loops here for the dispatch's compile-time structure, which the pipeline key carries.
 */
import dwGradSrc from './depthwise_dw.wgsl';
import dwRowsSrc from './depthwise_dw_rows.wgsl';
import { Tensor } from '../../engine/core/tensor.ts';
import { runtime, grid, launch1d } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import type { ConvGeom } from './geometry.ts';
import { pad, reshaped } from './launch.ts';
import { sum } from '../reduce/reduce.ts';
import { ringDefines, ringBlocks, ringFits, rowSplit, rowAligned, ringInclude, type RingDefines } from './depthwise_rows.ts';

const vec = (name: string, e: number) => `${name}${e >> 2}[${e & 3}]`;

/** depthwise_dw.wgsl's blocks unrolled for segments of TW columns and window phase A. */
function weightGradBlocks(d: Readonly<Omit<RingDefines, 'SH'>>): Record<string, string> {
  const { TW, A } = d;
  const g = { kh: d.KH, kw: d.KW, dh: d.DH, sw: d.SW, dw: d.DW };
  const NV = Math.ceil((A + (TW - 1) * g.sw + (g.kw - 1) * g.dw + 1) / 4);
  const ACC: string[] = [], STORE: string[] = [], BODY: string[] = [];
  for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
    ACC.push(`  var a${ky}_${kx} = 0.0;`);
    STORE.push(`    part[pbase + ${ky * g.kw + kx}u] = a${ky}_${kx};`);
  }
  for (let v = 0; v < TW / 4; v++) BODY.push(`      let d${v} = dy[dyrow + q + ${v}u];`);
  for (let t = 0; t < NV; t++) BODY.push(`      let cv${t} = u32(cb + ${t}) < Wxv;\n      let cx${t} = u32(select(0, cb + ${t}, cv${t}));`);
  for (let ky = 0; ky < g.kh; ky++) {
    BODY.push(`      {\n        let r = r0 + ${ky * g.dh};\n        let rv = u32(r) < params.Hx;\n        let rb = xplane + u32(select(0, r, rv)) * Wxv;`);
    for (let t = 0; t < NV; t++) BODY.push(`        let s${t} = select(vec4<f32>(0.0), xp[rb + cx${t}], rv && cv${t});`);
    for (let kx = 0; kx < g.kw; kx++) for (let c = 0; c < TW; c++) {
      BODY.push(`        a${ky}_${kx} = fma(${vec('d', c)}, ${vec('s', A + c * g.sw + kx * g.dw)}, a${ky}_${kx});`);
    }
    BODY.push('      }');
  }
  return { TWV: String(TW / 4), KHKW: String(g.kh * g.kw), ACC: ACC.join('\n'), BODY: BODY.join('\n'), STORE: STORE.join('\n') };
}

/** depthwise_dw_rows.wgsl unrolled: the ring of x row windows, TW/4 dy vec4s per row, kh*kw sums. */
function weightGradRowsBlocks(d: Readonly<RingDefines>): Record<string, string> {
  const { TW, A } = d;
  const g = { kh: d.KH, kw: d.KW, dh: d.DH, sw: d.SW, dw: d.DW };
  const { COLS, PRELOAD, STEP, ref } = ringBlocks(d);
  const ACC: string[] = [], BODY: string[] = [], STORE: string[] = [];
  for (let v = 0; v < TW / 4; v++) COLS.push(`  let dq${v} = select(0u, ${v}u, q + ${v}u < params.OWv);\n  let dv${v} = q + ${v}u < params.OWv;`);
  for (let v = 0; v < TW / 4; v++) BODY.push(`    let d${v} = select(vec4<f32>(0.0), dy[dyrow + dq${v}], dv${v});`);
  for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
    ACC.push(`  var a${ky}_${kx} = 0.0;`);
    STORE.push(`    part[pbase + ${ky * g.kw + kx}u] = a${ky}_${kx};`);
    for (let c = 0; c < TW; c++) BODY.push(`    a${ky}_${kx} = fma(${vec('d', c)}, ${ref(ky * g.dh, A + c * g.sw + kx * g.dw)}, a${ky}_${kx});`);
  }
  return {
    TWV: String(TW / 4), KHKW: String(g.kh * g.kw), COLS: COLS.join('\n'), ACC: ACC.join('\n'),
    PRELOAD: PRELOAD.join('\n'), STEP: STEP.join('\n'), BODY: BODY.join('\n'), STORE: STORE.join('\n'),
  };
}

/** Sums split-K partial sums (S, Cout*kh*kw) into dw (Cout, 1, kh, kw). */
function reduceParts(part: Tensor, S: number, wShape: number[]): Tensor {
  if (S === 1) return reshaped(part, wShape);
  const total = sum(part, 0);
  part.dispose();
  return reshaped(total, wShape);
}

/** Depthwise weight gradient: dw (Cin*M, 1, kh, kw). */
export function depthwiseWeightGrad(x: Tensor, dy: Tensor, g: ConvGeom): Tensor {
  const wShape = [g.Cout, 1, g.kh, g.kw];
  // x rows must be a multiple of 4 long; the kernels bounds-check everything else.
  const xp = rowAligned(x, g);
  const t = runtime().tuning.depthwise;
  if (t.rowsDw && ringFits(t.rowsTW, g)) {
    const TW = t.rowsTW;
    const { OWv, segs, chunks, rowsPerChunk, lanes } = rowSplit(TW, g);
    const dyp = OWv * 4 === g.OW ? dy.unrecordedView() : pad(dy, g.OH, OWv * 4, 0, 0);
    const S = g.N * chunks * segs;
    const part = Tensor.alloc([S, g.Cout * g.kh * g.kw]);
    const { groups: [gx, gy], stride } = launch1d(lanes);
    const ring = ringDefines(TW, g);
    const kernel = wgsl('conv2d_depthwise_dw_rows', dwRowsSrc, { include: ringInclude, defines: ring, blocks: weightGradRowsBlocks });
    runtime().run(kernel, { xp, xf: xp, dy: dyp, part }, {
      C: g.Cout, M: g.coutG, Cin: g.Cin, Hx: g.H, Wx: xp.shape[3], OH: g.OH, OW: g.OW, OWv, segs, chunks, rowsPerChunk, lanes,
      stride, pt: g.pt, winStart: (-g.pl - ring.A) / 4, hasBias: 0,
    }, [gx, gy]);
    xp.dispose();
    dyp.dispose();
    return reduceParts(part, S, wShape);
  }
  const TW = t.gradTW;
  // The ring's compile-time structure but SH (this kernel reads the row stride from params.sh).
  const { SH: _sh, ...taps } = ringDefines(TW, g), A = taps.A;
  const OWp = Math.ceil(g.OW / TW) * TW;
  const dyp = OWp === g.OW ? dy.unrecordedView() : pad(dy, g.OH, OWp, 0, 0);
  const rows = g.N * g.OH;
  let S = Math.min(rows, Math.max(1, Math.ceil(t.gradMinLanes / g.Cout)));
  const rowsPerChunk = Math.ceil(rows / S);
  S = Math.ceil(rows / rowsPerChunk);
  const part = Tensor.alloc([S, g.Cout * g.kh * g.kw]);
  const [gx, gy] = grid(Math.ceil((g.Cout * S) / 64));
  runtime().run(wgsl('conv2d_depthwise_dw', dwGradSrc, { defines: taps, blocks: weightGradBlocks }), { xp, dy: dyp, part }, {
    N: g.N, C: g.Cout, M: g.coutG, Cin: g.Cin, Hx: g.H, Wx: xp.shape[3], OH: g.OH, OWp, sh: g.sh, rowsPerChunk, chunks: S,
    pt: g.pt, winStart: (-g.pl - A) / 4,
  }, [gx, gy]);
  xp.dispose();
  dyp.dispose();
  return reduceParts(part, S, wShape);
}
