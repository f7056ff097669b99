// The source tree reads bottom-up: each file imports only from its own layer or the layers below it,
// and no chain of imports (type-only ones included) comes back to where it started. The layers, low to high:
//   engine/core  <  engine/io, engine/data, engine/text (host-only: of the engine, only core/errors.ts and core/half.ts)
//   <  kernels (from above only through kernels/index.ts; bench/ times kernel variants directly)  <  engine/autograd  <  engine/nn  <  engine/optim
//   <  engine/train  <  models  <  index.ts, node.ts  <  cli, web, bench
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const LAYERS: [prefix: string, rank: number][] = [
  ['engine/core/', 0], ['engine/io/', 1], ['engine/data/', 1], ['engine/text/', 1], ['kernels/', 2],
  ['engine/autograd/', 3], ['engine/nn/', 4], ['engine/optim/', 5], ['engine/train/', 6], ['models/', 7],
  ['index.ts', 8], ['node.ts', 8], ['cli/', 9], ['web/', 9], ['bench/', 9],
];
const HOST_ONLY = ['engine/io/', 'engine/data/', 'engine/text/'];

/** The layer of a source file, or undefined for a file outside the layered tree. */
export function layerOf(file: string): number | undefined {
  return LAYERS.find(([p]) => (p.endsWith('/') ? file.startsWith(p) : file === p))?.[1];
}

/** Every relative import (static, dynamic, re-export, type-only) of each .ts source file, as repository paths. */
export function importGraph(dir = root): Map<string, string[]> {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(join(dir, d))) {
      const p = d ? `${d}/${f}` : f;
      if (statSync(join(dir, p)).isDirectory()) { if (!['node_modules', 'dist', 'out', 'test', 'examples', 'scripts', 'types'].includes(p) && !f.startsWith('.')) walk(p); }
      else if (p.endsWith('.ts') && layerOf(p) !== undefined) files.push(p);
    }
  };
  walk('');
  const re = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|^import\s+['"](\.[^'"]+)['"]/gm;
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const src = readFileSync(join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    const deps = [...src.matchAll(re)].map((m) => normalize(join(dirname(f), m[1] ?? m[2] ?? m[3])));
    graph.set(f, deps.filter((d) => d.endsWith('.ts')));
  }
  return graph;
}

/** Imports that break the layering, as 'importer -> imported: why'. */
export function upwardImports(graph: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [f, deps] of graph) {
    const rf = layerOf(f)!;
    for (const d of deps) {
      const rd = layerOf(d);
      if (rd === undefined) continue;
      if (rd > rf) bad.push(`${f} -> ${d}: imports a higher layer`);
      else if (HOST_ONLY.some((p) => f.startsWith(p)) && d.startsWith('engine/core/') && d !== 'engine/core/errors.ts' && d !== 'engine/core/half.ts') bad.push(`${f} -> ${d}: host-only code may import only engine/core/errors.ts and half.ts from the engine`);
      else if (d.startsWith('kernels/') && !f.startsWith('kernels/') && !f.startsWith('bench/') && d !== 'kernels/index.ts') bad.push(`${f} -> ${d}: import ops through kernels/index.ts`);
    }
  }
  return bad;
}

/** Import cycles, each as the chain of files around it. */
export function importCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 1 | 2>(); // 1: on the stack, 2: done
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1); stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d) && graph.has(d)) visit(d);
    }
    stack.pop(); state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

test('no source file imports from a layer above its own', () => {
  const bad = upwardImports(importGraph());
  assert.equal(bad, [], `${bad.length} upward imports:\n  ${bad.join('\n  ')}`);
});

test('no import cycles', () => {
  const cycles = importCycles(importGraph());
  assert.equal(cycles.length, 0, `${cycles.length} cycles:\n  ${cycles.map((c) => c.join(' -> ')).join('\n  ')}`);
});

test('the checks see a planted upward import and a planted cycle', () => {
  const g = importGraph();
  const planted = new Map(g);
  planted.set('engine/core/tensor.ts', [...g.get('engine/core/tensor.ts')!, 'kernels/index.ts']);
  assert.ok(upwardImports(planted).some((b) => b.startsWith('engine/core/tensor.ts -> kernels/index.ts')));
  assert.ok(importCycles(planted).some((c) => c.includes('engine/core/tensor.ts') && c.includes('kernels/index.ts')));
  assert.ok(g.size > 100, `only ${g.size} source files found under ${relative(process.cwd(), root) || '.'}`);
});

test.run();
