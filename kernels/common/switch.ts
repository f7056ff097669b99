/**
 * The cases of a WGSL `switch` over a selector 0 .. n-1, case i running body(i) (the last one as the
 * default): how a store loop picks a kernel's unrolled accumulators by its loop index. lavapipe
 * compiles this several times faster than the stores unrolled, or than an array of the accumulators
 * indexed in the loop (a private array), but runs it slower where the store is a large share of the
 * kernel: the conv GEMM and depthwise kernels keep their arrays (a switch ran the GEMM 8-10 % slower).
 */
export function switchCases(n: number, body: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => `${i === n - 1 ? 'default' : `case ${i}u`}: { ${body(i)} }`).join(' ');
}
