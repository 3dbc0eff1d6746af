// The CRI streaming server (kubelet's pkg/kubelet/cri/streaming): Exec, Attach and
// PortForward hand out URLs of tsulad's own HTTP server, which speaks kubelet's protocols
// over SPDY/3.1 to crictl and kubelet (client-go's SPDY executor and port-forwarder).
//
// Owns: the HTTP listener (127.0.0.1, random port by default), the one-time tokens, SPDY/3.1
// framing and header compression (spdy/), and the exec/attach/port-forward sessions.
// Calls: only the StreamingRuntime it is given (the CRI service implements it on the
// engine) and common/ (errors, log). Knows nothing of containers or of CRI's gRPC side: the
// RPC handlers call getExec/getAttach/getPortForward and return the URL.
export { StreamingServer, type StreamingServerOptions } from './server.js';
export {
  relay, type StreamingRuntime, type StreamIO, type TerminalSize, type ExecRequest, type ExecResult,
  type AttachRequest, type PortForwardRequest,
} from './runtime.js';
export {
  RemoteCommandProtocol, REMOTE_COMMAND_PROTOCOLS, PORT_FORWARD_PROTOCOL, DEFAULT_STREAM_CREATION_TIMEOUT_MS,
  DEFAULT_STREAM_IDLE_TIMEOUT_MS,
} from './protocol.js';
