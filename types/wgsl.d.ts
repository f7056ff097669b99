/** WGSL sources are imported as text (esbuild `loader: text`, scripts/wgsl-hooks.mjs under tsx). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}

/** wgsl_reflect's ESM build (its package `main` is CommonJS under "type": "module"). */
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export { WgslReflect } from 'wgsl_reflect';
}
