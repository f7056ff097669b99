// Shared by every matmul kernel (the `include` of each): out = op(a) · op(b) per batch, where op is
// a transpose or not. a and b are arrays of AB (T, or vec4<T> in matmul_subgroup.wgsl) with T f32 or
// f16; kernels read them through ldA/ldB, which widen to f32 (WIDE), accumulate in f32 and store
// through st, which rounds to the output's type OUT.
// Transposes are strides: a[m, k] lives at aOffset + m * sam + k * sak, b[k, n] at bOffset + k * sbk + n * sbn,
// out[m, n] at outOffset + m * som + n (plan.ts MatmulView: operands and out read and written through strides).
// Batch dims are broadcast-merged on the host into at most 4 dims; a 0 batch stride broadcasts.
// a: (batchA, M, K) or (batchA, K, M)
// b: (batchB, K, N) or (batchB, N, K)
// out: (batch, M, N), bias: (N), rowsum: (batch, M) in the ROWSUM build (plan.ts rowSumBlocks),
// prev: (batch, M, N) in the ADD build: out = prev + the product (a gradient accumulated in the store);
// pre: (batch, M, N) in the ACT build, the value before the activation (out = act(pre)); in the DACT
// build a's shape, and ldA reads a's elements times the activation's derivative at pre (plan.ts epiBlocks);
// dropSeed, dropP, dropScale: the DROP build's dropout after the activation.
struct Params {
  M: u32, N: u32, K: u32, mOff: u32,
  sam: u32, sak: u32, sbk: u32, sbn: u32,
  bOff: u32, offA: u32, offB: u32, offO: u32,
  som: u32, dropSeed: u32, dropP: f32, dropScale: f32,
  batchShape: vec4<u32>, aBatch: vec4<u32>, bBatch: vec4<u32>, oBatch: vec4<u32>,
}
@group(0) @binding(0) var<storage, read> a: array<{{AB}}>;
@group(0) @binding(1) var<storage, read> b: array<{{AB}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{OUT}}>;

{{LDA_FN}}
fn ldB(i: u32) -> {{WIDE}} { return {{WIDE}}(b[i]); }
{{ST_FN}}
@group(0) @binding(3) var<uniform> params: Params;
{{BIAS_DECL}}
{{RS_DECL:}}
{{PREV_DECL:}}
{{PRE_DECL:}}

// The value stored in column n: v, plus b = biasAt(n) in the BIAS build (linear's bias as the
// epilogue). Kernels that store a column in several rows load its bias once: lavapipe compiles a
// load per store far slower (the blocked kernel at 8 lanes: 3.1 s against 1.0 s).
fn biasAt(n: u32) -> f32 { return {{BIAS_AT}}; }
fn epi(v: f32, b: f32) -> f32 { return {{EPI}}; }

// Element offsets of batch `bi` into a (x), b (y) and out (z); a 0 stride broadcasts.
fn batchOffsets(bi: u32) -> vec3<u32> {
  var rem = bi;
  var o = vec3<u32>(params.offA, params.offB, params.offO);
  for (var d = 3; d >= 0; d--) {
    let s = params.batchShape[d];
    let c = rem % s;
    rem = rem / s;
    o += c * vec3<u32>(params.aBatch[d], params.bBatch[d], params.oBatch[d]);
  }
  return o;
}
