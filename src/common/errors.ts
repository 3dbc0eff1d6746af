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

export const notFound = (msg: string) => new TsulaError('NotFound', msg);
export const alreadyExists = (msg: string) => new TsulaError('AlreadyExists', msg);
export const invalidArgument = (msg: string) => new TsulaError('InvalidArgument', msg);
export const failedPrecondition = (msg: string) => new TsulaError('FailedPrecondition', msg);
export const unavailable = (msg: string) => new TsulaError('Unavailable', msg);
export const unimplemented = (msg: string) => new TsulaError('Unimplemented', msg);
/** A registry refused the credentials (or wants some): docker's 401. */
export const unauthenticated = (msg: string) => new TsulaError('Unauthenticated', msg);
export const internal = (msg: string, cause?: unknown) => new TsulaError('Internal', msg, { cause });

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
