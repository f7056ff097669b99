// Node module hooks: `import src from './x.wgsl'` yields the file's text, as esbuild's text loader does.
import { register } from 'node:module';
register('./wgsl-loader.mjs', import.meta.url);
