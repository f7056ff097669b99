/**
 * What a CLI user sees when a command fails: one line saying what is wrong and what to do, never a
 * stack trace. Errors thaw raises on purpose are ThawErrors (UsageError: exit 2); Node's system
 * errors (a full disk, a permission, a symlink loop, a busy port) are described from their code and
 * path here, as a last line of defence behind the commands' own early checks; anything else is a
 * bug and says so. THAW_DEBUG=1 adds the full stack trace (and its causes') to each.
 */
import { ThawError, describeSystemError, firstLine, isSystemError } from '../engine/core/errors.ts';
import { UsageError } from './args.ts';

/** Whether THAW_DEBUG=1 asks for stack traces. */
export const debug = () => process.env.THAW_DEBUG === '1';

/** The stack of an error and of its causes, for THAW_DEBUG=1. */
function stacks(e: unknown): string {
  const out: string[] = [];
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 8; c = (c as Error).cause, depth++) {
    out.push(`${depth ? 'caused by: ' : ''}${(c as Error)?.stack ?? String(c)}`);
  }
  return out.join('\n');
}

/** What the user sees for a failure of `cmd`, and the exit code. */
export function report(cmd: string, e: unknown, withStack = debug()): { text: string; code: number } {
  let text: string, code = 1;
  if (e instanceof UsageError) { text = e.message; code = 2; }
  else if (e instanceof ThawError) text = `thaw ${cmd}: ${e.message}`;
  else if (isSystemError(e)) text = `thaw ${cmd}: ${describeSystemError(e)}`;
  else if (e instanceof RangeError && /allocation failed|Invalid typed array length|Invalid array length/.test(e.message)) {
    text = `thaw ${cmd}: out of memory (${firstLine(e.message)}); use smaller inputs (--batch, --size, fewer images) or a machine with more memory`;
  } else {
    const msg = e instanceof Error ? `${e.name}: ${firstLine(e.message)}` : firstLine(String(e));
    text = `thaw ${cmd}: unexpected error: ${msg}. This is a bug in thaw; rerun with THAW_DEBUG=1 for the stack trace and report it.`;
  }
  if (withStack) text += `\n${stacks(e)}`;
  return { text, code };
}

