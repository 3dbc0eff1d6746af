// One error taxonomy for the whole project (containerd's errdefs). Code in the middle
// throws these; the edges (HTTP, gRPC, ttrpc) translate them once, in one function each.

export type ErrorKind =
  | 'NotFound'
  | 'AlreadyExists'
  | 'InvalidArgument'
  | 'FailedPrecondition'
  | 'Unavailable'
  | 'Unimplemented'
  | 'Unauthenticated'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'DeadlineExceeded'
  | 'Internal';

export class TsulaError extends Error {
  constructor(readonly kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = kind;
  }
}

// A cause, where there is one, keeps the original error (and its stack) behind the message.
type Cause = unknown;
const make = (kind: ErrorKind) => (msg: string, cause?: Cause) =>
  new TsulaError(kind, msg, cause === undefined ? undefined : { cause });

export const notFound = make('NotFound');
export const alreadyExists = make('AlreadyExists');
export const invalidArgument = make('InvalidArgument');
export const failedPrecondition = make('FailedPrecondition');
export const unavailable = make('Unavailable');
export const unimplemented = make('Unimplemented');
/** A registry refused the credentials (or wants some): docker's 401. */
export const unauthenticated = make('Unauthenticated');
/** Allowed to nobody, whatever the input (docker's errdefs.Forbidden: a pre-defined network's rm). */
export const permissionDenied = make('PermissionDenied');
/** The disk (or a quota) is full: docker answers 500, gRPC has RESOURCE_EXHAUSTED. */
export const resourceExhausted = make('ResourceExhausted');
/** A bound the caller gave ran out (CRI's ExecSync timeout): gRPC DEADLINE_EXCEEDED, HTTP 504. */
export const deadlineExceeded = make('DeadlineExceeded');
export const internal = (msg: string, cause?: Cause) => new TsulaError('Internal', msg, { cause });

/**
 * The same error said about `subject` ("layer sha256:…: <message>"), of the same kind, with
 * the original as its cause. A message that already names the subject is kept as it is.
 */
export function withContext(err: unknown, subject: string): TsulaError {
  const msg = errorMessage(err);
  if (err instanceof TsulaError && msg.includes(subject)) return err;
  return new TsulaError(errorKind(err), `${subject}: ${msg}`, { cause: err });
}

export function errorKind(err: unknown): ErrorKind {
  return err instanceof TsulaError ? err.kind : 'Internal';
}

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return errorKind(err) === kind;
}

/** The Docker Engine API's status code for each kind. */
export function httpStatus(err: unknown): number {
  switch (errorKind(err)) {
    case 'NotFound': return 404;
    case 'AlreadyExists': return 409;
    case 'InvalidArgument': return 400;
    case 'FailedPrecondition': return 409;
    case 'Unavailable': return 503;
    case 'Unimplemented': return 501;
    case 'Unauthenticated': return 401;
    case 'PermissionDenied': return 403;
    case 'DeadlineExceeded': return 504;
    // docker has no status of its own for a full disk (moby answers 500); the message says it
    default: return 500;
  }
}

/** gRPC / ttrpc status codes (containerd's errdefs mapping). */
export function grpcCode(err: unknown): number {
  switch (errorKind(err)) {
    case 'InvalidArgument': return 3;
    case 'NotFound': return 5;
    case 'AlreadyExists': return 6;
    case 'FailedPrecondition': return 9;
    case 'Unimplemented': return 12;
    case 'Unavailable': return 14;
    case 'Unauthenticated': return 16;
    case 'PermissionDenied': return 7;
    case 'ResourceExhausted': return 8;
    case 'DeadlineExceeded': return 4;
    default: return 13;
  }
}

export function errorFromGrpc(code: number, message: string): TsulaError {
  const kind: ErrorKind =
    code === 3 ? 'InvalidArgument' : code === 5 ? 'NotFound' : code === 6 ? 'AlreadyExists'
      : code === 9 ? 'FailedPrecondition' : code === 12 ? 'Unimplemented' : code === 14 ? 'Unavailable'
        : code === 16 ? 'Unauthenticated' : code === 7 ? 'PermissionDenied' : code === 8 ? 'ResourceExhausted' : code === 4 ? 'DeadlineExceeded' : 'Internal';
  return new TsulaError(kind, message);
}

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** A write failed because the filesystem (or the user's quota) is full; looks through causes. */
export function isNoSpace(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof TsulaError && e.kind === 'ResourceExhausted') return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return true;
  }
  return false;
}

/** What frees space on a graph, for messages that ask the user to. */
export const FREE_SPACE_HINT = 'free some space (tsula rm, tsula rmi, tsula image prune)';

/**
 * "no space left on device on <where> while <doing>: free some space (...)": the disk, the
 * operation and the fix, instead of Node's bare "ENOSPC: no space left on device, write".
 */
export function noSpaceLeft(where: string, doing: string, cause?: unknown): TsulaError {
  const what = (cause as { code?: unknown } | undefined)?.code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
  return resourceExhausted(`${what} on ${where} while ${doing}: ${FREE_SPACE_HINT}`, cause);
}

/** User input quoted in an error: ASCII as is, any other byte as "?", at most 300 characters. */
export function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
