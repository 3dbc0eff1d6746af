// The guest channel's services, shared by tsula-agent (guest) and the vmm kind (host).
// The task API is containerd's own (`containerd.task.v2.Task`, protobuf). What the Task API
// has no method for — a health check, moving a process's stdio over the channel (kata's
// ReadStdout/WriteStdin), powering the guest off — is `tsula.agent.v1.Agent`, whose payloads
// are UTF-8 JSON: it is private to tsula's two ends, and JSON keeps it readable without
// another .proto to generate.
export const AGENT_SERVICE = 'tsula.agent.v1.Agent';
export const AGENT_VERSION = '0.2.0';

export interface PingResponse {
  version: string;
  /** The guest kernel's release (uname -r). */
  kernelRelease: string;
  /** Seconds since the guest booted, when the agent answered. */
  uptime: number;
  pid: number;
}

/** ReadStdout / ReadStderr: long poll; answers when there is data or the stream ended. */
export interface ReadStreamRequest { id: string; execId?: string }
export interface ReadStreamResponse { data: string /* base64 */; eof: boolean }

export interface WriteStdinRequest { id: string; execId?: string; data: string /* base64 */ }
export interface WriteStdinResponse { len: number }
export interface CloseStdinRequest { id: string; execId?: string }

/**
 * A container's OCI spec, sent in CreateTaskRequest.options as an Any with this type URL and
 * the spec as JSON (containerd's own type URL for it). The host has already rewritten it for
 * the guest: the rootfs is under the shared dir (virtiofs), mounts' sources too.
 */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** An exec's process in ExecProcessRequest.spec (containerd's type URL for it). */
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

export const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');
export function dec<T>(b: Uint8Array): T {
  return (b.length ? JSON.parse(Buffer.from(b).toString('utf8')) : {}) as T;
}
