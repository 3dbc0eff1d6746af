// Runtime io.containerd.<name>.v2 (a shim v2 client) and the engine's shim events server.
export { ShimV2Runtime, signalNumber, type ShimV2RuntimeOptions } from './runtime.js';
export { startEventsServer, type TaskEvent, type EventsServer } from './events.js';
export { isShimV2RuntimeName, shimBinaryName, findShimBinary, startShim, deleteShim } from './binary.js';
export { PROCESS_SPEC_TYPE_URL } from './exec.js';
