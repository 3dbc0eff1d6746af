// tsula's one ttrpc implementation (containerd/ttrpc v1.1 wire), used by the shim v2
// client, the events server, the sandboxer and the guest agent.
export { TtrpcServer, NAMESPACE_KEY, type CallContext, type RawHandler, type ServiceImpl, type ServerOptions } from './server.js';
export { TtrpcClient, type CallOptions, type ConnectOptions, type ServiceClient } from './client.js';
export { Code, TtrpcError, codeOf } from './status.js';
export { socketPath, shimSocketPath } from './address.js';
export { encodeFrame, FrameReader, MAX_MESSAGE_LENGTH, HEADER_LENGTH, TYPE_REQUEST, TYPE_RESPONSE } from './frame.js';
