/** A small argument parser: `--flag`, `--key value`, `--key=value`, positionals; unknown flags are usage errors. */
import { ThawError } from '../engine/core/errors.ts';

export class UsageError extends ThawError {
  constructor(message: string) { super('usage', message); }
}

export interface OptionSpec {
  /** 'string' | 'number' | 'boolean' */
  type: 'string' | 'number' | 'boolean';
  help: string;
  default?: string | number | boolean;
}

export type Parsed = { positionals: string[]; options: Record<string, string | number | boolean | undefined> };

/** Edit distance, for "did you mean" suggestions. */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) {
    d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/** The closest names to `word`, for error messages. */
export function suggest(word: string, names: string[]): string {
  // A prefix of a name ('resnet20' for 'resnet20-cifar10') is as good as a one-letter typo.
  const near = (n: string) => (word.length >= 3 && n.startsWith(word) ? 1 : distance(word, n));
  const best = names.map((n) => [n, near(n)] as const).sort((x, y) => x[1] - y[1]).filter(([, d]) => d <= Math.max(2, word.length / 2));
  return best.length ? ` Did you mean ${best.slice(0, 2).map(([n]) => `'${n}'`).join(' or ')}?` : '';
}

/** Parses argv against a spec; throws UsageError naming the bad flag or value. */
export function parseArgs(argv: string[], spec: Record<string, OptionSpec>, command: string): Parsed {
  const options: Parsed['options'] = {};
  for (const [k, s] of Object.entries(spec)) options[k] = s.default;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || a === '--') { positionals.push(a); continue; }
    const eq = a.indexOf('=');
    const key = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[key];
    if (!s) throw new UsageError(`thaw ${command}: unknown option --${key}.${suggest(key, Object.keys(spec))} See 'thaw ${command} --help'.`);
    if (s.type === 'boolean') {
      options[key] = eq < 0 ? true : !['false', '0', 'no'].includes(a.slice(eq + 1));
      continue;
    }
    const v = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (v === undefined) throw new UsageError(`thaw ${command}: --${key} needs a value (${s.help})`);
    // `--weights --data x` would read '--data' as the checkpoint and 'x' as a stray argument.
    if (eq < 0 && /^--[^-]/.test(v)) {
      throw new UsageError(`thaw ${command}: --${key} needs a value, but the next argument is the option ${v} (${s.help}); ` +
        `to pass a value that starts with '--', write --${key}=${v}`);
    }
    if (s.type === 'number') {
      const n = v.trim() === '' ? NaN : Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`thaw ${command}: --${key} expects a number, got '${v}'`);
      options[key] = n;
    } else options[key] = v;
  }
  return { positionals, options };
}

/** Help text for a command's options. */
export function optionHelp(spec: Record<string, OptionSpec>): string {
  return Object.entries(spec).map(([k, s]) => {
    const left = `  --${k}${s.type === 'boolean' ? '' : ` <${s.type === 'number' ? 'n' : 'value'}>`}`;
    return `${left.padEnd(28)} ${s.help}${s.default !== undefined && s.default !== false ? ` (default: ${s.default})` : ''}`;
  }).join('\n');
}
