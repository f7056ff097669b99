/**
 * Every error thaw raises on purpose is a ThawError with a stable `kind`, so callers (and the fuzz
 * harness) can tell a refused input from a bug. Messages name the problem and how to fix it.
 */
export class ThawError extends Error {
  /** A short stable identifier of the failure kind, e.g. 'shape', 'no-adapter', 'pickle-global'. */
  readonly kind: string;
  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** A tensor argument has the wrong shape or dtype for an op. */
export class ShapeError extends ThawError {
  constructor(message: string) { super('shape', message); }
}

/** No WebGPU adapter or device could be obtained, or the device was lost. */
export class DeviceError extends ThawError {}

/** A request exceeds a device limit (buffer size, binding size, workgroups). */
export class LimitError extends ThawError {
  constructor(message: string) { super('limit', message); }
}

/** Checks an op's argument and throws a ShapeError naming op, argument, what it got and what it expected. */
export function check(cond: unknown, op: string, arg: string, got: string, expected: string): asserts cond {
  if (!cond) throw new ShapeError(`${op}: argument '${arg}' has ${got}, expected ${expected}`);
}
