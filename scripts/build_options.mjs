// esbuild options shared by build.mjs and the CLI tests, which bundle the current sources the same way
// (test/cli/helpers.ts). Paths are relative to the repository root. WGSL files are inlined as text.
export const common = { bundle: true, format: 'esm', loader: { '.wgsl': 'text' }, sourcemap: true, target: 'es2022', logLevel: 'warning' };

/** The CLI: cli/main.ts for Node, its dependencies left to node_modules. */
export const cliBuild = { ...common, entryPoints: ['cli/main.ts'], platform: 'node', packages: 'external' };
