// Docker's default seccomp profile, converted to the OCI `linux.seccomp` form the way moby's
// profiles/seccomp/seccomp_linux.go does it: a rule's includes/excludes (caps, arches,
// minKernel) are decided here, per container, so runc only sees plain syscall rules.
import { release } from 'node:os';
import profileData from './seccomp-default.json' with { type: 'json' };
import { invalidArgument } from '../common/errors.js';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, SeccompAction } from './types.js';

/** Docker's seccomp profile file format (not the OCI form). */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures: string[] | null }>;
  syscalls?: ProfileSyscall[];
}

export interface ProfileFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface ProfileSyscall {
  name?: string;
  names?: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[] | null;
  comment?: string;
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
}

/** What a rule's conditions are evaluated against. */
export interface SeccompTarget {
  /** The container's bounding capabilities, "CAP_" prefixed (moby uses Bounding). */
  caps: readonly string[];
  /** Go-style arch ("amd64", "arm64", …); default: this host's. */
  arch?: string;
  /** Kernel release ("6.1.0-18-amd64"); default: os.release(). */
  kernel?: string;
  /** false: the kernel refuses x32 calls, so the default profile need not list that ABI (HostInfo.x32Abi). */
  x32Abi?: boolean;
}

export const DEFAULT_PROFILE = profileData as unknown as SeccompProfile;

// Node's process.arch → Go's runtime.GOARCH, the vocabulary the profile's "arches" use.
const NODE_TO_GO: Record<string, string> = {
  x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le',
  riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle', loong64: 'loong64',
};

// GOARCH → libseccomp's native arch name, to pick the archMap entry (moby's nativeToSeccomp).
const GO_TO_SECCOMP: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64', '386': 'SCMP_ARCH_X86', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM',
  s390x: 'SCMP_ARCH_S390X', ppc64le: 'SCMP_ARCH_PPC64LE', riscv64: 'SCMP_ARCH_RISCV64',
  mips: 'SCMP_ARCH_MIPS', mipsle: 'SCMP_ARCH_MIPSEL',
};

export function hostGoArch(nodeArch: string = process.arch): string {
  return NODE_TO_GO[nodeArch] ?? nodeArch;
}

/** Parses "major.minor[.patch][-extra]"; null when it is not a version. */
export function parseKernelVersion(s: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(s.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function kernelAtLeast(kernel: string, min: string): boolean {
  const k = parseKernelVersion(kernel);
  const m = parseKernelVersion(min);
  if (!m) throw invalidArgument(`seccomp profile: invalid minKernel ${JSON.stringify(min)}`);
  if (!k) return false; // unknown kernel: be conservative, treat as old
  return k[0] !== m[0] ? k[0] > m[0] : k[1] >= m[1];
}

/** Converts a Docker-format profile into what runc takes, for one container. */
export function convertProfile(profile: SeccompProfile, target: SeccompTarget): LinuxSeccomp {
  const arch = target.arch ?? hostGoArch();
  const kernel = target.kernel ?? release();
  const caps = new Set(target.caps);

  if (profile.architectures?.length && profile.archMap?.length) {
    throw invalidArgument('both \'architectures\' and \'archMap\' are specified in the seccomp profile, use either \'architectures\' or \'archMap\'');
  }
  const architectures: string[] = [...(profile.architectures ?? [])];
  const native = GO_TO_SECCOMP[arch];
  for (const a of profile.archMap ?? []) {
    if (native && a.architecture === native) architectures.push(a.architecture, ...(a.subArchitectures ?? []));
  }

  const syscalls: LinuxSyscall[] = [];
  // a profile of only a defaultAction is valid (containerd and docker take it)
  for (const call of profile.syscalls ?? []) {
    if (call.name && call.names?.length) {
      throw invalidArgument('both \'name\' and \'names\' are specified in the seccomp profile, use either \'name\' or \'names\'');
    }
    const ex = call.excludes ?? {};
    if (ex.arches?.includes(arch)) continue;
    if (ex.caps?.some((c) => caps.has(c))) continue;
    if (ex.minKernel && kernelAtLeast(kernel, ex.minKernel)) continue;
    const inc = call.includes ?? {};
    if (inc.arches?.length && !inc.arches.includes(arch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) continue;

    const rule: LinuxSyscall = { names: call.names?.length ? [...call.names] : [call.name ?? ''], action: call.action };
    if (call.errnoRet !== undefined) rule.errnoRet = call.errnoRet;
    if (call.args?.length) rule.args = call.args.map((a) => ({ ...a }));
    syscalls.push(rule);
  }

  const out: LinuxSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (architectures.length) out.architectures = architectures;
  out.syscalls = syscalls;
  return out;
}

/**
 * Docker's default profile for a container with these capabilities. On a kernel without the
 * x32 ABI its calls fail either way (ENOSYS from the kernel, or libseccomp's bad-arch kill
 * before it), and runc's libseccomp compiles ~20% less filter per create (~8 ms of CPU here).
 * A profile the user gives is left as written.
 */
export function defaultSeccomp(target: SeccompTarget): LinuxSeccomp {
  const out = convertProfile(DEFAULT_PROFILE, target);
  if (target.x32Abi === false && out.architectures) out.architectures = out.architectures.filter((a) => a !== 'SCMP_ARCH_X32');
  return out;
}
