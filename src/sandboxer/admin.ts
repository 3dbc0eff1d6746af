// The sandboxer's private ttrpc service for its shim launcher (containerd-shim-tsula-v2),
// served on the task socket next to containerd.task.v2.Task (Cleanup). Payloads are JSON: both ends
// are ours, and the launcher stays small (no extra generated code to load).
// Keep this file free of heavy imports: the launcher bundles it.

export const ADMIN_SERVICE = 'tsula.sandboxer.v1.Admin';

/**
 * `start` leaves <bundle>/tsula-shim.json: which containerd (namespace, events address) the
 * container belongs to; the sandboxer reads it at Create (a file, not an RPC: the
 * launcher's start-up stays small, and it survives a sandboxer restart in between).
 */
export const SHIM_INFO_FILE = 'tsula-shim.json';

export interface ShimInfo {
  id: string;
  namespace: string;
  /** containerd's TTRPC_ADDRESS, where task events go. */
  eventsAddress: string;
  /** containerd's own socket (-address). */
  containerdAddress: string;
}

/** `delete`: containerd cleans up after a lost connection. */
export interface CleanupRequest {
  id: string;
  namespace: string;
  bundle: string;
}

export interface CleanupResponse {
  known: boolean;
  pid: number;
  exitStatus: number;
  /** ms since epoch; 0 = unknown */
  exitedAt: number;
}

export const encodeJson = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b).toString('utf8') || '{}') as T;

/** Where a sandboxer keeps its sockets; shared by the daemon and the launcher. */
export const DEFAULT_STATE = '/run/tsula-sandboxer';
export const DEFAULT_ADDRESS = '/run/tsula-sandboxer.sock';
export const taskSocketOf = (state: string): string => `${state}/task.sock`;
