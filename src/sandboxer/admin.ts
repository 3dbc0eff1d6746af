// The sandboxer's private ttrpc service for its shim launcher (containerd-shim-tsula-v2: Cleanup)
// and for `tsula sandbox` (List), served on the task socket next to containerd.task.v2.Task. Payloads are JSON: both ends
// are ours, and the launcher stays small (no extra generated code to load).
// Keep this file free of heavy imports: the launcher bundles it.
import * as path from 'node:path';
import { sha256Hex } from '../common/crypto.js';
import { invalidArgument } from '../common/errors.js';
import type { SandboxRecord } from './kinds/types.js';
import type { PsProcess } from '../common/ps.js';

export const ADMIN_SERVICE = 'tsula.sandboxer.v1.Admin';
/** Admin.List is also served on the Controller's gRPC socket (JSON bodies), for who knows only that. */
export const ADMIN_LIST_GRPC_PATH = `/${ADMIN_SERVICE}/List`;

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

/** `start` of the first task of a namespace: serve that namespace's task socket (namespace-sockets.ts). */
export interface ListenRequest {
  namespace: string;
}

export interface ListenResponse {
  /** unix://<state>/ns/<namespace>.sock */
  address: string;
}

export interface CleanupResponse {
  known: boolean;
  pid: number;
  exitStatus: number;
  /** ms since epoch; 0 = unknown */
  exitedAt: number;
}

/** `Processes`: a task's processes as its kernel tells them (a VM task's guest), for tsulad's docker top. */
export interface ProcessesRequest { id: string }
export interface ProcessesResponse { processes: PsProcess[] }

/** `List` (request: `{}`): every sandbox the sandboxer holds, for `tsula sandbox ls` / `shell`. */
export interface SandboxSummary {
  id: string;
  kind: string;
  state: SandboxRecord['state'];
  pid: number;
  /** ISO time */
  createdAt: string;
  /** vmm: which hypervisor runs the VM (qemu, stratovirt, ...) */
  hypervisor?: string;
  /** vmm: the guest kernel's `uname -r`, as the agent reported it at boot */
  kernelRelease?: string;
  /** vmm: the host end of the guest's debug console (a shell on /dev/hvc0) */
  debugSocket?: string;
}

export interface ListResponse {
  sandboxes: SandboxSummary[];
}

/** What List tells about one record (the kind's own state is not all for the CLI to see). */
export function sandboxSummary(r: SandboxRecord): SandboxSummary {
  const ks = r.kindState;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
  const paths = ks.paths && typeof ks.paths === 'object' ? ks.paths as Record<string, unknown> : {};
  return {
    id: r.id, kind: r.kind, state: r.state, pid: r.pid, createdAt: r.createdAt,
    hypervisor: str(ks.hypervisor), kernelRelease: str(ks.kernelRelease), debugSocket: str(paths.debugSocket),
  };
}

export const encodeJson = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b).toString('utf8') || '{}') as T;

/** Where a sandboxer keeps its sockets; shared by the daemon and the launcher. */
export const DEFAULT_STATE = '/run/tsula-sandboxer';
export const DEFAULT_ADDRESS = '/run/tsula-sandboxer.sock';
export const taskSocketOf = (state: string): string => `${state}/task.sock`;

/** containerd's namespace names (its identifiers package): what may go into a socket's name. */
const NAMESPACE_RE = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const NAMESPACE_MAX = 76;
/** sun_path holds 108 bytes with its NUL. */
const SUN_PATH_MAX = 107;

export const namespaceSocketDir = (state: string): string => path.join(state, 'ns');

/** `<state>/ns/<namespace>.sock`, or a digest of the name where that path would be too long for a socket. */
export function namespaceSocketOf(state: string, ns: string): string {
  if (!NAMESPACE_RE.test(ns) || ns.length > NAMESPACE_MAX) throw invalidArgument(`namespace ${JSON.stringify(ns)}: not a containerd namespace name`);
  const plain = path.join(namespaceSocketDir(state), `${ns}.sock`);
  if (Buffer.byteLength(plain) <= SUN_PATH_MAX) return plain;
  return path.join(namespaceSocketDir(state), `${sha256Hex(ns).slice(0, 16)}.sock`);
}
