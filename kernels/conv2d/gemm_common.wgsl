// Uniforms and bindings of the correlation GEMM (gemm.wgsl, both builds), included with
// kernels/common/epilogue.wgsl (which reads params.act, params.hasRes and res).
struct Params {
  N: u32, groups: u32, Cred: u32, Cg: u32, coBlocks: u32,
  wsG: u32, wsY: u32, wsX: u32, wsC: u32, wsO: u32,
  Hs: u32, Ws: u32, Hd: u32, Wd: u32,
  Wsub: u32, rw: u32, dsh: u32, dsw: u32, ssh: u32, jBlocks: u32,
  kx0: u32, kys: u32, kxs: u32, kh: u32, kw: u32,
  winStart: i32, csh: i32,
  // The row plan of workgroups with wid.z < groups*coBlocks, and (2) of those above.
  Hsub: u32, rh: u32, nkh: u32, ky0: u32, c0h: i32,
  Hsub2: u32, rh2: u32, nkh2: u32, ky02: u32, c0h2: i32,
  hasBias: u32, strideX: u32, act: u32, hasRes: u32,
}
@group(0) @binding(0) var<storage, read> src: array<vec4<{{T:f32}}>>;
@group(0) @binding(1) var<storage, read> wt: array<{{WTYPE}}>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<{{T:f32}}>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read> res: array<{{T:f32}}>;
