/**
 * Typed errors of the checkpoint importer. Every refusal of an input (corrupt, truncated, hostile or
 * merely unsupported) is a CheckpointError with a stable `kind`, so callers and the fuzz harness can
 * tell a refused file from a bug: anything else escaping a parser is a bug.
 */
import { ThawError } from '../core/errors.ts';

/** The failure kinds of the checkpoint parsers, one per distinct problem. */
export type IoErrorKind =
  | 'truncated' // the input ends before a declared length
  | 'bad-magic' // not the format it claims (or that was sniffed)
  | 'bad-header' // a header or record is malformed (wrong types, missing fields)
  | 'bad-json' // JSON (or a UMD JavaScript literal) does not parse
  | 'bad-shape' // a shape or stride that is not a list of non-negative integers
  | 'out-of-bounds' // an offset or extent points outside its buffer
  | 'overlap' // two tensors claim the same bytes
  | 'too-large' // a declared size beyond what we agree to allocate
  | 'too-deep' // nesting beyond the depth limit
  | 'int-range' // an i64 value that does not fit the i32 we convert to
  | 'unsupported-dtype'
  | 'unsupported-format'
  | 'unsupported-compression'
  | 'crc' // a zip entry whose CRC-32 does not match its bytes
  | 'missing-entry' // a zip entry, storage record or shard named but absent
  | 'bad-path' // a shard path that escapes its folder or is not relative
  | 'pickle-global' // GLOBAL / STACK_GLOBAL naming anything outside the allow-list
  | 'pickle-opcode' // an opcode we do not implement (or that is never safe)
  | 'pickle-stack' // stack or mark underflow, wrong operand types, stack limit
  | 'pickle-memo' // BINGET of an unset memo index, memo limit
  | 'pickle-reduce' // REDUCE / BUILD applied to something that is not one of our rebuild functions
  | 'pickle-build';

/** A checkpoint could not be read (or written); `kind` says why, the message says where. */
export class CheckpointError extends ThawError {
  declare readonly kind: IoErrorKind;
  constructor(kind: IoErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
  }
}

/**
 * A pickle asked for something we never do: import a global outside the allow-list, call a
 * non-rebuild callable, or set state on an object. Raised before any effect; nothing is executed.
 */
export class UnsafePickleError extends CheckpointError {}

/** Throws a CheckpointError; an expression form for `cond || fail(...)` checks. */
export function fail(kind: IoErrorKind, message: string): never {
  throw new CheckpointError(kind, message);
}

/** Throws a CheckpointError of `kind` unless `cond` holds. */
export function ensure(cond: unknown, kind: IoErrorKind, message: string): asserts cond {
  if (!cond) throw new CheckpointError(kind, message);
}
