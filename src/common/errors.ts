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
    default: return 13;
  }
}

export function errorFromGrpc(code: number, message: string): TsulaError {
  const kind: ErrorKind =
    code === 3 ? 'InvalidArgument' : code === 5 ? 'NotFound' : code === 6 ? 'AlreadyExists'
      : code === 9 ? 'FailedPrecondition' : code === 12 ? 'Unimplemented' : code === 14 ? 'Unavailable'
        : code === 16 ? 'Unauthenticated' : 'Internal';
  return new TsulaError(kind, message);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
