// cgroups: what a cgroup uses (CPU, memory, pids) on either cgroup version, read the way
// containerd and cadvisor read it, and its wire form in containerd's Task API (the
// io.containerd.cgroups.*.Metrics messages). Reads only; used by tsulad's stats, by the
// sandboxer's Task API Stats and by the guest agent. May call only the generated protos.
export * from './usage.js';
export * from './metrics.js';
