/**
 * Live values: uniform fields that come from host state changing between training steps (the
 * scheduler's learning rate, the optimizer's step count, a dropout module's seed). `live(fn)` runs
 * `fn` at once and keeps its result in `value`, so the eager path sees a plain number. A step being
 * recorded (recording.ts) also keeps `fn`, and every replay runs the step's live functions again, in
 * the order they were made, before it patches the uniforms that read them: host side effects in `fn`
 * (advancing a seed or a step count) therefore happen once per replayed step, as in an eager step.
 * Any value a kernel's uniform takes from host state that can change between steps must come
 * through `live`; a plain number is recorded as a constant.
 */
export class Live<T> {
  /** The latest result of `fn`. */
  value: T;
  /** @internal The recording that made it, if any. */
  readonly owner: object | null;
  constructor(readonly fn: () => T, owner: object | null) {
    this.value = fn();
    this.owner = owner;
  }
}

let owner: object | null = null;
let made: Live<unknown>[] | null = null;

/** A value computed by `fn` now and again at every replay of a recorded step (see above). */
export function live<T>(fn: () => T): Live<T> {
  const l = new Live(fn, owner);
  made?.push(l);
  return l;
}

/** The current value of a plain or live value. */
export function valueOf<T>(v: T | Live<T>): T { return v instanceof Live ? v.value : v; }

/**
 * `f` of a value: a live value (re-evaluated with it at every replay) when `v` is live. It belongs
 * where `v` does, so a recording refuses it when `v` was made outside the recording.
 */
export function mapLive<A, B>(v: A | Live<A>, f: (a: A) => B): B | Live<B> {
  if (!(v instanceof Live)) return f(v);
  const l = new Live(() => f(v.value), v.owner);
  made?.push(l);
  return l;
}

/** @internal Makes every live value created until the next call belong to `o` and land in `list` (recording.ts). */
export function collectLive(o: object | null, list: Live<unknown>[] | null): void {
  owner = o;
  made = list;
}
