// gRPC status codes as ttrpc carries them in Response.status, and the one place where
// they meet tsula's error kinds (src/common/errors.ts holds the errdefs mapping).
import { TsulaError, errorFromGrpc, grpcCode, errorMessage, type ErrorKind } from '../common/errors.js';

export const Code = {
  OK: 0,
  CANCELED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/**
 * A TsulaError that remembers the exact status code, for codes the errdefs taxonomy
 * folds together (CANCELED, ABORTED, ... read as Unavailable or Internal). Handlers may throw
 * it to answer with a specific code.
 */
export class TtrpcError extends TsulaError {
  constructor(readonly code: number, message: string) {
    super(kindOf(code), message);
  }
}

function kindOf(code: number): ErrorKind {
  // a cancel is the peer going away: Unavailable, like a dead peer (a deadline is its own kind,
  // the same over gRPC and ttrpc: errors.ts maps it once)
  if (code === Code.CANCELED) return 'Unavailable';
  return errorFromGrpc(code, '').kind;
}

/** The status code a handler's error is answered with. */
export function statusCodeOf(err: unknown): number {
  if (err instanceof TtrpcError) return err.code;
  return grpcCode(err);
}

export function statusMessageOf(err: unknown): string {
  return errorMessage(err);
}

/** What a client call rejects with when the peer answered status {code, message}. */
export function errorFromStatus(code: number, message: string): TtrpcError {
  return new TtrpcError(code, message);
}

/** The status code of any error a client call rejected with (13 when it is not ours). */
export function codeOf(err: unknown): number {
  return err instanceof TtrpcError ? err.code : grpcCode(err);
}
