/**
 * Fills the unrolled statements of matmul_subgroup.wgsl for one configuration: TM rows per
 * subgroup, TNQ column quads per lane, SG lanes, and the transpose flags. The kernel's structure and
 * the reasons for it are in the .wgsl file; this only repeats its per-row/per-column statements,
 * since subgroupBroadcast needs a constant lane index and the accumulators must stay in registers.
 */
import src from './matmul_subgroup.wgsl';
import commonSrc from './matmul_common.wgsl';
import { runtime, type Kernel } from '../../engine/core/runtime.ts';
import { wgsl } from '../../engine/core/wgsl.ts';
import type { MatmulPlan } from './plan.ts';
import { biasBlocks, rowSumBlocks, epiBlocks, type EpilogueAct } from './plan.ts';
import mathSrc from '../common/math.wgsl';
import { switchCases } from '../common/switch.ts';

/**
 * Whether the subgroup kernel can read these operands as vec4s: the vec4 axis (K of a unless
 * transposed, N of b unless transposed) contiguous and a multiple of 4 long, and every other stride
 * and offset of a and b a multiple of 4 elements.
 */
export function subgroupAligned(p: MatmulPlan, transA: boolean, transB: boolean): boolean {
  const [aLen, aUnit, aStep] = transA ? [p.M, p.sam, p.sak] : [p.K, p.sak, p.sam];
  const [bLen, bUnit, bStep] = transB ? [p.K, p.sbk, p.sbn] : [p.N, p.sbn, p.sbk];
  const x4 = (...v: number[]) => v.every((x) => x % 4 === 0);
  return aLen % 4 === 0 && bLen % 4 === 0 && aUnit === 1 && bUnit === 1 && x4(aStep, bStep, p.offA, p.offB, ...p.aBatch, ...p.bBatch);
}

/** Rows per workgroup must be a multiple of SG (4·SG when a is transposed). */
export function subgroupRowMultiple(SG: number, transA: boolean): number {
  return transA ? 4 * SG : SG;
}

/** The unrolled blocks of the subgroup kernel for one configuration. */
function subgroupBlocks({ TM, TNQ, SG, TA: tA, TB: tB, ROWSUM }: Readonly<SubgroupDefines>): Record<string, string> {
  const setup: string[] = [], acc: string[] = [], quad: string[] = [], single: string[] = [], store: string[] = [], rsStore: string[] = [];
  const R = (n: number) => [...Array(n).keys()];
  // Quads along M and N (counts), and the strides of the non-vec4 axes in vec4s (plan.ts).
  const M4 = 'M / 4u', N4 = 'N / 4u';
  const SAM4 = 'params.sam / 4u', SAK4 = 'params.sak / 4u', SBK4 = 'params.sbk / 4u', SBN4 = 'params.sbn / 4u';
  // op(a) rows, and per row i a vec4 over the four k of the quad (aq) or one k (as).
  if (!tA) {
    for (const q of R(TM / SG)) {
      setup.push(`  let ra${q} = off.x + min(m0 + lane + ${q * SG}u, M - 1u) * (${SAM4});`);
      quad.push(`    let va${q} = ldA(ra${q} + k / 4u);`);
    }
  } else {
    for (const q of R(TM / (4 * SG))) {
      setup.push(`  let ca${q} = off.x + min(m0 / 4u + lane + ${q * SG}u, ${M4} - 1u);`);
      for (const kk of R(4)) quad.push(`    let vt${kk}_${q} = ldA(ca${q} + (k + ${kk}u) * (${SAK4}));`);
      single.push(`    let vs${q} = ldA(ca${q} + k * (${SAK4}));`);
    }
  }
  // op(b) columns of this lane, as bq{j}_{kk}: vec4 over the quad's four columns at k + kk.
  if (!tB) {
    for (const j of R(TNQ)) {
      setup.push(`  let cb${j} = off.y + min(n0 / 4u + lane + ${j * SG}u, ${N4} - 1u);`);
      for (const kk of R(4)) quad.push(`    let bq${j}_${kk} = ldB(cb${j} + (k + ${kk}u) * (${SBK4}));`);
      single.push(`    let bs${j} = ldB(cb${j} + k * (${SBK4}));`);
    }
  } else {
    for (const j of R(TNQ)) {
      for (const c of R(4)) {
        setup.push(`  let rb${j}_${c} = off.y + min(n0 + 4u * lane + ${4 * SG * j + c}u, N - 1u) * (${SBN4});`);
        quad.push(`    let ut${j}_${c} = ldB(rb${j}_${c} + k / 4u);`);
      }
      for (const kk of R(4)) quad.push(`    let bq${j}_${kk} = vec4<f32>(ut${j}_0[${kk}], ut${j}_1[${kk}], ut${j}_2[${kk}], ut${j}_3[${kk}]);`);
    }
  }
  for (const i of R(TM)) {
    for (const j of R(TNQ)) acc.push(`  var acc${i}_${j} = vec4<f32>();`);
    // Row i's values, broadcast from the lane that loaded them; used at once to keep few live.
    if (!tA) {
      quad.push(`    let aq${i} = subgroupBroadcast(va${Math.floor(i / SG)}, ${i % SG}u);`);
    } else {
      const g = Math.floor(i / 4), q = Math.floor(g / SG), ln = g % SG, r = i % 4;
      if (r === 0) {
        for (const kk of R(4)) quad.push(`    let w${g}_${kk} = subgroupBroadcast(vt${kk}_${q}, ${ln}u);`);
        single.push(`    let ws${g} = subgroupBroadcast(vs${q}, ${ln}u);`);
      }
      quad.push(`    let aq${i} = vec4<f32>(w${g}_0[${r}], w${g}_1[${r}], w${g}_2[${r}], w${g}_3[${r}]);`);
    }
    for (const j of R(TNQ)) {
      for (const kk of R(4)) quad.push(`    acc${i}_${j} = fma(vec4<f32>(aq${i}[${kk}]), bq${j}_${kk}, acc${i}_${j});`);
      if (tA && !tB) single.push(`    acc${i}_${j} = fma(vec4<f32>(ws${Math.floor(i / 4)}[${i % 4}]), bs${j}, acc${i}_${j});`);
    }
    // ROWSUM: row i of op(a), four k at a time (the same value in every lane after the broadcast).
    if (ROWSUM) {
      acc.push(`  var rs${i} = vec4<f32>();`);
      quad.push(`    rs${i} += aq${i};`);
      if (tA && !tB) single.push(`    rs${i}.x += ws${Math.floor(i / 4)}[${i % 4}];`);
    }
  }
  // The stores loop over the rows, each row's accumulators picked by a switch: unrolled, their bounds
  // checks and epilogues made lavapipe's compile far slower, and so did an array of the accumulators
  // indexed in the loop (TM = 32, 8 lanes: 1.2 s against 0.3 s, and with a bias or a summand loaded
  // in the store 3.6-4.2 s). The bias of each lane's columns (0 without one) is loaded once for all rows.
  for (const j of R(TNQ)) store.push(`  let b${j} = vec4<f32>(${R(4).map((c) => `biasAt(min(n0 + 4u * lane + ${4 * SG * j + c}u, N - 1u))`).join(', ')});`);
  store.push(`  for (var i = 0u; i < min(${TM}u, M - min(m0, M)); i++) {`,
    '    let ro = base + (m0 + i) * params.som;',
    `    ${R(TNQ).map((j) => `var r${j}: vec4<f32>;`).join(' ')}`,
    `    switch (i) { ${switchCases(TM, (i) => R(TNQ).map((j) => `r${j} = acc${i}_${j};`).join(' '))} }`);
  for (const j of R(TNQ)) {
    store.push(`    { let nc = n0 + 4u * lane + ${4 * SG * j}u;`,
      `      for (var c = 0u; c < 4u; c++) { if (nc + c < N) { st(ro + nc + c, epi(r${j}[c], b${j}[c])); } } }`);
  }
  store.push('  }');
  if (ROWSUM) {
    rsStore.push(`  for (var i = 0u; i < min(${TM}u, M - min(m0, M)); i++) {`,
      '    var s: vec4<f32>;',
      `    switch (i) { ${switchCases(TM, (i) => `s = rs${i};`)} }`,
      '    if (wid.x == 0u && lane == 0u) { rowsum[z * M + m0 + i] = (s.x + s.y) + (s.z + s.w); }',
      '  }');
  }
  if (!(tA && !tB)) single.length = 0; // K % 4 == 0 is required then: the single-step loop never runs
  return {
    TILE_N: String(4 * SG * TNQ),
    SETUP: setup.join('\n'), ACC: acc.join('\n'), QUAD: quad.join('\n'), SINGLE: single.join('\n'), STORE: store.join('\n'),
    ...rowSumBlocks({ ROWSUM }, { RS_INIT: '', RS_ADD: '', RS_STORE: rsStore.join('\n') }),
  };
}

type SubgroupDefines = { AB: string; WIDE: string; OUT: string; SG: number; TM: number; TNQ: number; TA: boolean; TB: boolean; BIAS: boolean; ROWSUM?: boolean; ADD?: boolean; ACT?: EpilogueAct; DACT?: EpilogueAct; DROP?: boolean };

/** The epilogue defines (launch.ts), present only when set. */
type SubgroupEpi = { ROWSUM?: true; ADD?: true; ACT?: EpilogueAct; DACT?: EpilogueAct; DROP?: true };

/** The subgroup kernel's generated code, from its defines (one function, not a closure per call). */
const subgroupKernelBlocks = (d: SubgroupDefines) => ({ ...subgroupBlocks(d), ...biasBlocks(d), ...epiBlocks(d) });

/** The subgroup kernel for one configuration. */
function subgroupKernel(T: 'f32' | 'f16', TM: number, TNQ: number, SG: number, TA: boolean, TB: boolean, BIAS: boolean, e: SubgroupEpi): Kernel {
  return wgsl<SubgroupDefines>('matmul_subgroup', src, {
    include: [mathSrc, commonSrc], defines: { AB: `vec4<${T}>`, WIDE: 'vec4<f32>', OUT: T, SG, TM, TNQ, TA, TB, BIAS, ...e },
    blocks: subgroupKernelBlocks,
  });
}

/**
 * The fixed subgroup size when the device has the 'subgroups' feature and the adapter reports a
 * single size (the kernel needs a workgroup to be exactly one subgroup), else 0.
 */
export function subgroupSize(): number {
  return runtime().subgroupSize;
}

/**
 * The subgroup kernel for a planned matmul, or null where it cannot run (no subgroups, unaligned
 * vec4 axes, or no rows/quads for this subgroup size in tuning.matmul.subgroup). `rows`/`cols` are
 * the output rows and columns one workgroup covers; params are launch.ts's (mOff in rows).
 */
export function subgroupLaunch(p: MatmulPlan, tA: boolean, tB: boolean, force?: { TM: number; TNQ: number }, bias = false, T: 'f32' | 'f16' = 'f32', e: SubgroupEpi = {}): { kernel: Kernel; rows: number; cols: number } | null {
  const SG = subgroupSize();
  const tune = force ?? runtime().tuning.matmul.subgroup[SG];
  if (!SG || !tune || !subgroupAligned(p, tA, tB)) return null;
  const rm = subgroupRowMultiple(SG, tA);
  if (force && force.TM % rm !== 0) return null;
  // A short M would waste most of a tall block: halve TM while it still covers M.
  let TM = Math.max(rm, Math.floor(tune.TM / rm) * rm);
  while (!force && TM > rm && TM / 2 >= p.M && (TM / 2) % rm === 0) TM /= 2;
  const TNQ = tune.TNQ;
  return {
    kernel: subgroupKernel(T, TM, TNQ, SG, tA, tB, bias, e),
    rows: TM, cols: 4 * SG * TNQ,
  };
}
