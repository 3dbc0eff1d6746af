// Which accelerator can run a guest here. KVM needs /dev/kvm AND hardware virtualisation
// (vmx/svm in /proc/cpuinfo): a paravirtual nested host (kvm_pvm) exposes /dev/kvm without
// the flags, and stock guest kernels hang under it, so there we must use TCG. The inputs are
// passed in so tests can feed a fake cpuinfo.
import { promises as fs } from 'node:fs';

export type Accel = 'kvm' | 'tcg';

export interface HostFacts {
  kvmDevice: boolean;
  cpuinfo: string;
}

export interface AccelChoice {
  accel: Accel;
  /** Why: shown by `tsula info` and in boot errors. */
  reason: string;
}

export function chooseAccel(h: HostFacts): AccelChoice {
  if (!h.kvmDevice) return { accel: 'tcg', reason: '/dev/kvm does not exist' };
  const flags = new Set<string>();
  for (const line of h.cpuinfo.split('\n')) {
    const m = /^flags\s*:\s*(.*)$/.exec(line);
    if (m) for (const f of m[1].trim().split(/\s+/)) flags.add(f);
  }
  if (flags.has('vmx') || flags.has('svm')) return { accel: 'kvm', reason: `/dev/kvm and ${flags.has('vmx') ? 'vmx' : 'svm'} present` };
  return { accel: 'tcg', reason: '/dev/kvm exists but the CPU has no vmx/svm flag (paravirtual nested KVM): using TCG' };
}

export async function hostFacts(kvmPath = '/dev/kvm', cpuinfoPath = '/proc/cpuinfo'): Promise<HostFacts> {
  const st = await fs.stat(kvmPath).catch(() => null);
  const cpuinfo = await fs.readFile(cpuinfoPath, 'utf8').catch(() => '');
  return { kvmDevice: !!st?.isCharacterDevice(), cpuinfo };
}

export async function detectAccel(): Promise<AccelChoice> {
  return chooseAccel(await hostFacts());
}
