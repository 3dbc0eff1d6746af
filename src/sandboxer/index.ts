// tsula-sandboxer (Kuasar's role): one daemon for every sandbox on the node.
// - daemon.ts: process entry; serves controller.ts (containerd.services.sandbox.v1.Controller,
//   gRPC via grpc.ts) and, through task-server.ts, tasks/service.ts (containerd.task.v2.Task,
//   ttrpc) plus admin.ts (the shim launcher's Cleanup); both servers load with their socket's
//   first client (common/lazy-endpoint.ts).
// - sandboxes.ts + kinds/: sandbox records and the SandboxKind interface; kinds/runc holds a
//   pod's namespaces in a tiny process, kinds/vmm a VM (loaded with the first VM pod: kinds/lazy.ts).
// - tasks/: containers on conmon + runc (src/runtime/runc), containerd's FIFOs, events
//   (encoded and sent by tasks/event-sender.ts, loaded with the first event).
// - client.ts: tsulad's side (SandboxerRuntime, a src/runtime Runtime).
// May call: src/runtime (runc, shimv2 helpers), src/ttrpc, src/gen, src/oci, src/common.
export { startSandboxer, main, type SandboxerOptions } from './daemon.js';
export { SandboxerRuntime, type SandboxerRuntimeOptions } from './client.js';
export type { SandboxKind, SandboxRecord } from './kinds/index.js';
