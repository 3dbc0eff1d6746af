// The guest channel's services, shared by tsula-agent (guest) and the vmm kind (host).
// The task API is containerd's own (`containerd.task.v2.Task`, protobuf). What the Task API
// has no method for — a health check, moving a process's stdio over the channel (kata's
// ReadStdout/WriteStdin), powering the guest off — is `tsula.agent.v1.Agent`, whose payloads
// are UTF-8 JSON: it is private to tsula's two ends, and JSON keeps it readable without
// another .proto to generate.
export const AGENT_SERVICE = 'tsula.agent.v1.Agent';
export const AGENT_VERSION = '0.1.0';

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
 * What a task runs: sent in CreateTaskRequest.options as an Any with this type URL and the
 * OCI spec as JSON (no shared filesystem carries the bundle into the guest yet).
 */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

export const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');
export function dec<T>(b: Uint8Array): T {
  return (b.length ? JSON.parse(Buffer.from(b).toString('utf8')) : {}) as T;
}
