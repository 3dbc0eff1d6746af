// The wire vocabulary of kubelet's streaming protocols: subprotocol names and their
// negotiation (apimachinery httpstream.Handshake), stream types and headers
// (k8s.io/api/core/v1), and the error stream's metav1.Status, encoded as Go's encoding/json
// writes it so that what a client reads is what kubelet would have sent.

/** Exec/attach subprotocols, most preferred first (apimachinery util/remotecommand). */
export const RemoteCommandProtocol = {
  /** Exit codes: the error stream carries a JSON metav1.Status. */
  V4: 'v4.channel.k8s.io',
  /** Terminal resizing: a `resize` stream of JSON sizes. */
  V3: 'v3.channel.k8s.io',
  /** The client can tell the end of stdin (half-close); errors as plain text. */
  V2: 'v2.channel.k8s.io',
  /** The first protocol (Kubernetes 1.0). */
  V1: 'channel.k8s.io',
} as const;
export type RemoteCommandProtocol = typeof RemoteCommandProtocol[keyof typeof RemoteCommandProtocol];

export const REMOTE_COMMAND_PROTOCOLS: readonly RemoteCommandProtocol[] = [
  RemoteCommandProtocol.V4, RemoteCommandProtocol.V3, RemoteCommandProtocol.V2, RemoteCommandProtocol.V1,
];

export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
export const PORT_FORWARD_PROTOCOLS: readonly string[] = [PORT_FORWARD_PROTOCOL];

export const HEADER_PROTOCOL_VERSION = 'X-Stream-Protocol-Version';
export const HEADER_ACCEPTED_PROTOCOL_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';

/** SPDY stream headers (lower case on the wire). */
export const StreamHeader = { Type: 'streamType', Port: 'port', RequestId: 'requestID' } as const;

export const StreamType = {
  Error: 'error', Stdin: 'stdin', Stdout: 'stdout', Stderr: 'stderr', Resize: 'resize', Data: 'data',
} as const;

/** kubelet's DefaultStreamCreationTimeout: how long the client has to open its streams. */
export const DEFAULT_STREAM_CREATION_TIMEOUT_MS = 30_000;
/** kubelet's default StreamIdleTimeout. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 4 * 60 * 60 * 1000;

export function supportsResize(p: RemoteCommandProtocol): boolean {
  return p === RemoteCommandProtocol.V4 || p === RemoteCommandProtocol.V3;
}

export type Negotiation =
  | { ok: true; protocol: string }
  | { ok: false; status: 400 | 403; message: string; accepted: readonly string[] };

/**
 * Picks the subprotocol: the first of the client's (in its order) that the server knows.
 * `offered` holds the values of every X-Stream-Protocol-Version header line, each possibly
 * comma-separated. No offer is refused (400), as is an offer with nothing in common (403,
 * with the server's list in X-Accepted-Stream-Protocol-Versions).
 */
export function negotiate(offered: readonly string[], server: readonly string[]): Negotiation {
  const client = offered.flatMap((v) => v.split(',')).map((p) => p.trim()).filter(Boolean);
  if (!client.length) {
    return { ok: false, status: 400, message: `unable to upgrade: ${HEADER_PROTOCOL_VERSION} is required`, accepted: [] };
  }
  const chosen = client.find((p) => server.includes(p));
  if (chosen) return { ok: true, protocol: chosen };
  return {
    ok: false, status: 403, accepted: server,
    message: `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${server.join(' ')}]`,
  };
}

// ---- metav1.Status on the error stream ------------------------------------------------------

export interface StatusCause { reason?: string; message?: string }
export interface Status {
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes?: StatusCause[] };
  code?: number;
}

export const SUCCESS: Status = { status: 'Success' };

/** What kubelet's ServeExec writes for a command that exited non-zero. */
export function exitCodeStatus(code: number, cmd: readonly string[]): Status {
  return {
    status: 'Failure',
    // containerd's CodeExitError text; clients read the code from the cause.
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** apierrors.NewInternalError. */
export function internalErrorStatus(err: string): Status {
  return {
    status: 'Failure',
    message: `Internal error occurred: ${err}`,
    reason: 'InternalError',
    details: { causes: [{ message: err }] },
    code: 500,
  };
}

/**
 * JSON as Go's encoding/json marshals metav1.Status: fields in struct order, empty ones
 * left out except `metadata` (a struct, so always `{}`), and Go's escaping of <, >, &,
 * U+2028/2029 and control characters.
 */
export function statusJson(s: Status): string {
  const causes = s.details?.causes?.map((c) => ({ reason: c.reason || undefined, message: c.message || undefined }));
  const doc = {
    metadata: {},
    status: s.status,
    message: s.message || undefined,
    reason: s.reason || undefined,
    details: s.details ? { causes: causes?.length ? causes : undefined } : undefined,
    code: s.code || undefined,
  };
  return JSON.stringify(doc).replace(/[<>&\u2028\u2029\b\f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** v1–v3 clients get StatusError.Error() as text, and nothing on success. */
export function statusText(s: Status): string {
  return s.status === 'Success' ? '' : (s.message ?? '');
}
