/**
 * Kernel tuning as data: one frozen table per adapter class, chosen when the runtime is created
 * (`runtime().tuning`), with one sub-object per kernel family. `software` is what CPU-emulated adapters
 * (lavapipe, SwiftShader, and adapters that name no vendor) get; `hardware` what a real GPU gets.
 * THAW_TUNING=software|hardware overrides the choice (tests run the suites with the hardware table on
 * the software adapters, so the paths a GPU takes stay tested).
 *
 * Every adapter-dependent path choice that is a matter of speed lives here (the matmul kernel, the
 * subgroup conv kernels, Winograd, the attention implementation), so a table says everything a
 * kernel decides by adapter. Capabilities are not tuning: the subgroup kernels still need the device's
 * 'subgroups' feature and one fixed subgroup size, whatever the table says.
 *
 * Per call, ops take `tuning?: TuningPatch` in their options (conv2d, matmul, sum/mean/max, attention):
 * the patch is merged over the table in effect for that op, its forward and its backward (the tape
 * re-enters the forward's tuning: engine/core/tape.ts). `withTuning(patch, fn)` does the same for
 * any code (benchmarks sweeping settings).
 */
import { ThawError } from './errors.ts';

/** Convolution kernels (kernels/conv2d: the GEMMs, pointwise, weight gradient, Winograd). */
export interface ConvTuning {
  /** gemm: destination pixels (of one row) per invocation, a multiple of 4. */
  gemmPX: number;
  /** gemm_sg (subgroup lanes): pixels per lane (a multiple of 4), channels per workgroup by subgroup size. */
  sgPX: number; sgTM: Readonly<Record<number, number>>;
  /**
   * Use the subgroup kernels where the device has subgroups of one fixed size: they pay off on
   * CPU-emulated adapters, where every load is a loop over lanes; a GPU runs the plain ones.
   */
  subgroups: boolean;
  /** gemm and pointwise: most channel vec4s per invocation (fewer when a group has fewer channels). */
  maxCV: number;
  /** pointwise: pixel vec4s per invocation, strided pixel walk. */
  pwPV: number; pwStrided: boolean;
  /** dw: output channel vec4s, most weight rows, and most vec4 accumulators per invocation. */
  dwCV: number; dwRB: number; dwAcc: number;
  /** dw subgroup kernel: output channels per workgroup by subgroup size, scalar accumulator budget. */
  sgDwTM: Readonly<Record<number, number>>; sgDwAcc: Readonly<Record<number, number>>;
  /** dw: aim for at least this many workgroups when splitting the pixel reduction. */
  dwMinGroups: number;
  /**
   * dx of 3x3 stride-1 convs: Winograd tile size (2 or 4; 0: the direct kernels). F(4x4) ran the
   * benchmark's 3x3 64->64 dx (batch 8) in ~280 ms of CPU time on SwiftShader vs ~490 direct, and
   * ~53 vs ~90-150 on lavapipe; F(2x2) gained little. Not timed on a GPU (off there).
   */
  dxWinograd: number;
  /**
   * Forward of 3x3 stride-1 undilated ungrouped convs: Winograd tile size, as dxWinograd (the same
   * transforms and GEMMs, winograd.ts). F(2x2) never beat F(4x4).
   */
  fwdWinograd: number;
  /**
   * Both passes run Winograd only for convs whose harmonic mean of Cin and Cout is at least this
   * (the GEMM saves ~Cin*Cout per tile, the transforms cost ~Cin + Cout, and each pass is two
   * dispatches more than the direct GEMM, the weight transform a third). CPU ms per pass, forward /
   * dx (with its weight transform), direct vs F(4x4), batch 8, shared machine: lavapipe 16->16 32px
   * ~2.6 / ~2.4 vs ~3.4 / ~3.3, 32->32 16px ~2.0 / ~1.8 vs ~2.2 / ~2.1, 48->48 16px ~4.8 / ~4.5 vs
   * ~3.4 / ~3.5, 64->64 8px ~1.8 / ~1.8 vs ~1.5 / ~1.6, 64->64 56px ~82 / ~72 vs ~49 / ~47;
   * SwiftShader 16->16 ~14 / ~14 vs ~16 / ~16, 32->32 ~11 / ~11 vs ~9 / ~9.4, 64->64 8px ~10 / ~10
   * vs ~6.4 / ~6.3. 3->16: direct ~2.7 vs ~8 (lavapipe), ~25 vs ~35 (SwiftShader). 24 lies between:
   * 32->32 is a little faster direct on lavapipe but ~20% faster on Winograd on SwiftShader.
   */
  winogradMinChannels: number;
  /**
   * winogradMinChannels of the forward pass for constant weights (conv2d's `constantWeights`, e.g.
   * folded frozen conv-BN pairs), whose GEMM and Winograd layouts are both made once: the direct GEMM is then one
   * dispatch against Winograd's three (input transform, GEMM, output transform). lavapipe, per
   * forward (batch 8 / 32, shared machine, best of runs): 32->32 16px direct ~1.4 / ~5 ms vs
   * F(4x4) ~1.8 / ~6; 48->48 16px (batch 8) ~3.7 vs ~3.0; 64->64 8px ~1.0 / ~4.8 vs ~1.1 / ~4.3;
   * 128->128 14px (batch 8) ~45 vs ~11.
   */
  fwdWinogradConstantMinChannels: number;
  /**
   * gemm and dw: read sources whose rows are a multiple of 4 long unpadded (bounds by select, no
   * padding pass), as tuning.depthwise.unpadded does for the depthwise kernels.
   */
  unpadded: boolean;
}

/** Depthwise convolution kernels (kernels/conv2d/depthwise*.ts). */
export interface DepthwiseTuning {
  /**
   * Forward / dx tile: destination rows x columns per invocation (columns a multiple of 4); kernels
   * at least tallKH taps tall use tallTH rows. On lavapipe 4 x 8 tiles ran within noise of 8 x 8 for
   * 3x3 and 5x5 kernels (stride 1 and 2, forward and dx) and compiled in about half the time (the
   * 8 x 8 stride-2 5x5 forward took ~27 s); 7x7 kernels ran ~10% faster with 8 rows.
   */
  TH: number; TW: number; tallTH: number; tallKH: number;
  /** Read sources whose rows are a multiple of 4 long unpadded (bounds by select, no padding pass). */
  unpadded: boolean;
  /** Store vec4s when the tile's columns are whole vec4s of destination rows. */
  vecStore: boolean;
  /**
   * Row-streaming kernels (depthwise_rows.ts) for forward, dx of stride-1 convs and dw: on, output
   * columns per lane (a multiple of 4), the lane count their row split aims for, and the most floats
   * the ring of x row windows may hold (else the tile kernels run). About 3x faster than the tiles
   * on SwiftShader.
   */
  rowsFwd: boolean; rowsDx: boolean; rowsDw: boolean; rowsTW: number; rowsMinLanes: number; ringBudget: number;
  /** Fallback weight gradient (depthwise_dw.wgsl): segment width (a multiple of 4), lane count of its split. */
  gradTW: number; gradMinLanes: number;
}

/** Register tiles of the tiled matmul: rows per invocation, column vec4s per invocation, K step. */
export interface TiledConfig { RM: number; RN4: number; BK: number }

/** Matrix multiplication kernels (kernels/matmul). */
export interface MatmulTuning {
  /**
   * The kernel variant 'auto' runs: 'tiled' (workgroup-memory tiles), 'blocked' (register blocks, no
   * workgroup memory), or 'subgroup' (subgroup.ts), which falls back to 'blocked' where it cannot
   * run (no subgroups, or operands that are not vec4-aligned).
   */
  kernel: 'subgroup' | 'blocked' | 'tiled';
  /**
   * Subgroup kernel by subgroup size: rows per subgroup (TM) and column quads per lane (TNQ); no entry,
   * no subgroup kernel. On lavapipe's 8 lanes the hot loop of TM=32, TNQ=1 does 1.65 flop per
   * instruction vs 0.3 for a 4x8 register block without subgroups (counted with GALLIVM_DEBUG=asm),
   * and 1024² ran at up to ~40 GFLOP/s (best of 6, 2 busy cores). SwiftShader (4 lanes): TM=8
   * measured best (3.6-5.7 GFLOP/s at 512², vs 16: 3.5-4.4).
   */
  subgroup: Readonly<Record<number, Readonly<{ TM: number; TNQ: number }>>>;
  /**
   * Blocked kernel workgroup shape (invocations, each computing 8 rows x 8 columns). On lavapipe and
   * SwiftShader, 8x8, 16x1, 8x1 and 16x4 measured within noise of each other.
   */
  blockedWG: readonly [number, number];
  /**
   * Tiled kernel: `big` for products with M and N at least `bigMin` (enough tiles to fill a large
   * GPU), else `small`. Chosen from the usual GPU practice, not yet timed on a GPU: retune from
   * bench/matmul.ts on one.
   */
  tiledBigMin: number; tiledBig: Readonly<TiledConfig>; tiledSmall: Readonly<TiledConfig>;
}

/** Reductions (kernels/reduce/launch.ts). */
export interface ReduceTuning {
  /**
   * A reduction runs as nOut x nChunks invocations (no workgroup barriers: each barrier is a coroutine
   * switch on software adapters): the reduced range is split into chunks when there are fewer than
   * targetInvocations outputs, so small outputs still keep every core busy, but a chunk is never
   * shorter than minChunk load units and there are at most maxChunks; a second tiny pass folds the
   * partials in order (deterministic).
   */
  targetInvocations: number; minChunk: number; maxChunks: number;
}

/** Attention (kernels/attention). */
export interface AttentionTuning {
  /**
   * The implementation `impl: 'auto'` (and BERT's `attention: 'auto'`) runs: the fused kernels on a
   * GPU; matmul + softmax + matmul on CPU-emulated adapters, where the composed form ran faster.
   */
  impl: 'composed' | 'fused';
}

/** Everything a kernel decides by adapter, one sub-object per kernel family. */
export interface Tuning {
  readonly conv: Readonly<ConvTuning>;
  readonly depthwise: Readonly<DepthwiseTuning>;
  readonly matmul: Readonly<MatmulTuning>;
  readonly reduce: Readonly<ReduceTuning>;
  readonly attention: Readonly<AttentionTuning>;
}

/** A per-call override: any family's fields, merged over the table in effect (a field replaces its value whole). */
export type TuningPatch = { readonly [F in keyof Tuning]?: Partial<Tuning[F]> };

/** The built-in tuning tables: 'software' for CPU-emulated adapters, 'hardware' for GPUs. */
export type TuningName = 'software' | 'hardware';

/** Freezes `o` and every object reachable from it; returns it. */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const SHARED_DEPTHWISE: DepthwiseTuning = {
  TH: 4, TW: 8, tallTH: 8, tallKH: 7, unpadded: true, vecStore: true,
  rowsFwd: true, rowsDx: true, rowsDw: true, rowsTW: 16, rowsMinLanes: 4096, ringBudget: 96,
  gradTW: 8, gradMinLanes: 4096,
};

const software: Tuning = {
  conv: {
    gemmPX: 8, sgPX: 4, sgTM: { 4: 16, 8: 32 }, subgroups: true, maxCV: 2, pwPV: 2, pwStrided: false,
    dwCV: 1, dwRB: 4, dwAcc: 24, sgDwTM: { 4: 8, 8: 16 }, sgDwAcc: { 4: 64, 8: 128 }, dwMinGroups: 256,
    dxWinograd: 4, fwdWinograd: 4, winogradMinChannels: 24, fwdWinogradConstantMinChannels: 40, unpadded: true,
  },
  // Both software adapters time alike within noise on these.
  depthwise: { ...SHARED_DEPTHWISE },
  matmul: {
    kernel: 'subgroup',
    subgroup: { 8: { TM: 32, TNQ: 1 }, 4: { TM: 16, TNQ: 2 } },
    blockedWG: [8, 8],
    tiledBigMin: 512, tiledBig: { RM: 8, RN4: 2, BK: 8 }, tiledSmall: { RM: 4, RN4: 1, BK: 16 },
  },
  reduce: { targetInvocations: 4096, minChunk: 64, maxChunks: 1024 },
  attention: { impl: 'composed' },
};

const hardware: Tuning = {
  ...software,
  conv: { ...software.conv, subgroups: false, dxWinograd: 0, fwdWinograd: 0 },
  depthwise: { ...SHARED_DEPTHWISE },
  matmul: { ...software.matmul, kernel: 'tiled' },
  attention: { impl: 'fused' },
};

/** The two tables, deep-frozen. */
export const TUNINGS: Readonly<Record<TuningName, Tuning>> = deepFreeze({ software, hardware });

/**
 * The table for an adapter: THAW_TUNING (software|hardware) when set, else 'hardware' for a real GPU
 * (kind 'hardware' and not a fallback adapter) and 'software' for the rest.
 */
export function tuningName(adapter: { kind: string; isSoftware: boolean }, env?: string): TuningName {
  if (env) {
    if (env === 'software' || env === 'hardware') return env;
    throw new ThawError('argument', `THAW_TUNING='${env}' is not 'software' or 'hardware'`);
  }
  return adapter.kind === 'hardware' && !adapter.isSoftware ? 'hardware' : 'software';
}

/** `base` with `patch`'s fields replacing its own, family by family; deep-frozen (base itself when there is nothing to merge). */
export function mergeTuning(base: Tuning, patch: TuningPatch | undefined): Tuning {
  if (!patch) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [family, fields] of Object.entries(patch)) {
    if (fields === undefined) continue;
    if (!(family in base)) throw new ThawError('argument', `tuning: no kernel family '${family}' (families: ${Object.keys(base).join(', ')})`);
    const cur = (base as any)[family];
    for (const k of Object.keys(fields)) {
      if (!(k in cur)) throw new ThawError('argument', `tuning.${family}: no field '${k}' (fields: ${Object.keys(cur).join(', ')})`);
    }
    out[family] = { ...cur, ...fields };
  }
  return deepFreeze(out as unknown as Tuning);
}

/** The innermost per-call tuning in effect (a full table), or null outside every override. */
let active: Tuning | null = null;

/** The per-call tuning in effect, or null (Runtime.tuning falls back to the adapter's table). */
export function activeTuning(): Tuning | null { return active; }

/** Runs `fn` with `table` in effect (the tape re-enters a forward's table for its backward). */
export function underTuning<T>(table: Tuning | null, fn: () => T): T {
  if (table === active) return fn();
  const prev = active;
  active = table;
  try { return fn(); } finally { active = prev; }
}
