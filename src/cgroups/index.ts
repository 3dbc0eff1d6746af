// cgroups: what a cgroup uses (CPU, memory, pids) on either cgroup version, read the way
// containerd and cadvisor read it, and its wire form in containerd's Task API (the
// io.containerd.cgroups.*.Metrics messages, in ./metrics.js: imported by the Task API's ends
// only, so that reading a cgroup does not load protobuf). Reads only; used by tsulad's stats,
// by the sandboxer's Task API Stats and by the guest agent.
export * from './usage.js';
