// The subset of the OCI runtime spec 1.0.2 (config.json) that tsula writes for runc.
// Field names and nesting follow opencontainers/runtime-spec specs-go/config.go exactly,
// because runc decodes this JSON with Go's encoding/json: a misspelt key is silently ignored.

export interface Spec {
  ociVersion: string;
  process: Process;
  root: Root;
  hostname?: string;
  mounts: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux: Linux;
}

/** The runtime runs these on the host (the runtime spec's POSIX-platform hooks). */
export interface Hook { path: string; args?: string[]; env?: string[]; timeout?: number }
export interface Hooks { prestart?: Hook[]; poststart?: Hook[]; poststop?: Hook[] }

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: POSIXRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  /** Set only when asked for: the engine refuses values below its own (DESIGN.md: no CAP_SYS_RESOURCE). */
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface POSIXRlimit {
  type: string; // RLIMIT_NOFILE, …
  hard: number;
  soft: number;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface LinuxNamespace {
  type: NamespaceType;
  path?: string;
}

export interface LinuxDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: string; // a, b, c
  major?: number; // absent = wildcard
  minor?: number;
  access?: string; // rwm
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

export interface LinuxCPU {
  shares?: number;
  quota?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
}

export interface LinuxPids {
  limit: number;
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxBlockIO {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCPU;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIO;
}

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: LinuxSyscall[];
}

export interface Linux {
  namespaces: LinuxNamespace[];
  resources?: LinuxResources;
  cgroupsPath?: string;
  devices?: LinuxDevice[];
  sysctl?: Record<string, string>;
  seccomp?: LinuxSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  rootfsPropagation?: string;
  mountLabel?: string;
}
