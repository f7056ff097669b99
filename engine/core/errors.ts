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

/**
 * Refuses an op's argument that is not a float tensor (f32 or f16), or whose dtype differs from `like`'s
 * (the argument named `likeName`).
 */
export function checkFloat(op: string, arg: string, t: { dtype: string }, like?: { dtype: string }, likeName = 'a'): void {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${op}: argument '${arg}' has dtype ${t.dtype}, expected f32 or f16`);
  if (like && t.dtype !== like.dtype) throw new ShapeError(`${op}: argument '${arg}' has dtype ${t.dtype} and argument '${likeName}' ${like.dtype}; cast() one so both match`);
}

/** A Node.js system error (`fs`, `net`): a string `code` such as 'ENOENT', usually a `syscall` and a `path`. */
export interface SystemError extends Error { code: string; syscall?: string; path?: string; dest?: string; port?: number; address?: string }

/** Whether `e` is a Node.js system error (an Error with an upper-case `E…` code, not already a ThawError), as opposed to a bug. */
export function isSystemError(e: unknown): e is SystemError {
  return e instanceof Error && !(e instanceof ThawError) && typeof (e as SystemError).code === 'string' && /^E[A-Z0-9]+$/.test((e as SystemError).code);
}

/** What went wrong, in words, and what to do about it, per error code. */
const SYSTEM_ERRORS: Record<string, [reason: string, fix: string]> = {
  ENOENT: ['no such file or folder', 'check the path'],
  EACCES: ['permission denied', 'check its permissions (ls -l) or choose another path'],
  EPERM: ['the operation is not permitted there (a system or protected location?)', 'choose a path in a folder you own'],
  EROFS: ['the file system is read-only', 'choose a path on a writable disk'],
  EEXIST: ['something already exists there', 'remove it or choose another path'],
  ENOTDIR: ['a part of the path is a file, not a folder', 'check the path'],
  EISDIR: ['it is a folder, not a file', 'give a file'],
  ENOTEMPTY: ['the folder is not empty', 'empty it or choose another path'],
  ELOOP: ['a symbolic link loop (a link that leads back to itself)', 'fix or remove the link'],
  ENAMETOOLONG: ['the path is too long', 'use a shorter path'],
  ENOSPC: ['no space left on the device', 'free some space or write to another disk'],
  EDQUOT: ['the disk quota is exhausted', 'free some space or write to another disk'],
  EFBIG: ['the file is too large for this file system', 'write to another disk'],
  EMFILE: ['too many open files', "raise the limit (ulimit -n) and retry"],
  ENFILE: ['too many open files in the system', 'close other programs and retry'],
  EBUSY: ['the resource is busy', 'retry when it is free'],
  EIO: ['an input/output error (a failing disk or network file system?)', 'check the disk and retry'],
  EXDEV: ['it crosses file systems', 'keep the file on one disk'],
  ENXIO: ['no such device', 'check the path'],
  ENODEV: ['no such device', 'check the path'],
  ETXTBSY: ['the file is busy (being executed)', 'retry when it is free'],
  EADDRINUSE: ['the address is already in use', 'pick another port (--port 0 picks a free one)'],
  EADDRNOTAVAIL: ['the address is not available on this machine', 'check the host name'],
  ECONNREFUSED: ['the connection was refused', 'check the address and that the server runs'],
  ECONNRESET: ['the connection was reset', 'retry'],
  ETIMEDOUT: ['the operation timed out', 'retry, or check the network'],
  ENOTFOUND: ['the host name was not found', 'check the network (or use --offline)'],
  EAI_AGAIN: ['the host name could not be resolved now', 'check the network (or use --offline)'],
  ENOMEM: ['out of memory', 'close other programs or use smaller inputs'],
};

/** What each system call was doing, in words. */
const ACTIONS: Record<string, string> = {
  open: 'open', read: 'read', write: 'write', close: 'close', mkdir: 'create the folder', rmdir: 'remove the folder', unlink: 'remove',
  rename: 'rename', stat: 'read', lstat: 'read', fstat: 'read', scandir: 'list the folder', opendir: 'list the folder', readdir: 'list the folder',
  access: 'access', copyfile: 'copy', realpath: 'resolve', readlink: 'read the link', symlink: 'create the link', fsync: 'write', ftruncate: 'write',
  listen: 'listen on', bind: 'bind', connect: 'connect to', getaddrinfo: 'look up', chmod: 'change the mode of', utime: 'touch',
};

/**
 * One line for a Node.js system error: what could not be done to which path, why in words, and
 * what to do (`fix` overrides the generic advice), e.g. "cannot create the folder '/sys/x': the
 * operation is not permitted there (EPERM); choose a path in a folder you own".
 */
export function describeSystemError(e: SystemError, fix?: string): string {
  const [reason, generic] = SYSTEM_ERRORS[e.code] ?? [firstLine(e.message).replace(/^E[A-Z0-9]+:\s*/, '').replace(/,\s*\w+ '.*'$/, ''), 'retry, or check the path'];
  const action = e.syscall ? (ACTIONS[e.syscall] ?? e.syscall) : 'access';
  let what = e.path !== undefined ? ` '${e.path}'${e.dest !== undefined ? ` to '${e.dest}'` : ''}` : '';
  if (!what && e.port !== undefined) what = ` ${e.address ? `${e.address}:` : 'port '}${e.port}`;
  if (e.code === 'ENOENT' && e.syscall === 'mkdir') {
    return `cannot create the folder${what}: its parent does not accept new folders (a virtual file system such as /proc?) (ENOENT); ${fix ?? 'choose a folder on a disk'}`;
  }
  if (e.code === 'EEXIST' && e.syscall === 'mkdir') return `cannot create the folder${what}: a file is already there (EEXIST); ${fix ?? 'remove it or choose another path'}`;
  return `cannot ${action}${what}: ${reason} (${e.code}); ${fix ?? generic}`;
}

/** The first line of a message (the rest of a multi-line message or a stack is for THAW_DEBUG=1). */
export function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** A file-system operation failed (kind 'file'); the message is `describeSystemError`'s line, `code` and `path` are Node's. */
export class FileError extends ThawError {
  readonly code: string;
  readonly path?: string;
  constructor(e: SystemError, fix?: string) {
    super('file', describeSystemError(e, fix), { cause: e });
    this.code = e.code;
    this.path = e.path;
  }
}
