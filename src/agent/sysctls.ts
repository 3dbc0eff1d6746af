// The guest side of SetSysctls (protocol.ts): the pod's net.* sysctls, written once into the
// guest's own network namespace, which is the pod's network (its containers get no netns of
// their own). kata leaves them in each container's spec and has its agent skip runc's check
// that a net.* sysctl needs a new network namespace (rustjail validator.rs: "the network ns
// is shared with the guest"); crun in our guest runs that check, so the host takes them out
// of the containers' specs and the pod's set-up writes them here, where the pod's NIC is
// configured. Each file is looked for first: a knob the guest kernel lacks is named as
// runc's open() error names it, a value the kernel refuses as its write error.
import { existsSync, writeFileSync } from 'node:fs';
import { invalidArgument } from '../common/errors.js';

/** A sysctl key that can only name a file under /proc/sys/net (no empty, "." or ".." part). */
export function checkNetSysctl(key: string): void {
  const q = JSON.stringify(key);
  if (!/^[A-Za-z0-9_:./-]+$/.test(key) || key.split(/[./]/).some((c) => c === '' || c === '.' || c === '..')) {
    throw invalidArgument(`sysctl ${q} is not a valid sysctl name`);
  }
  if (!key.startsWith('net.')) throw invalidArgument(`sysctl ${q}: only net.* sysctls are set at the pod's set-up (others go with each container)`);
}

/** /proc/sys/net/ipv4/ip_forward for net.ipv4.ip_forward (runc's: dots are separators, slashes stay). */
export const sysctlFile = (key: string, procSys = '/proc/sys') => `${procSys}/${key.replace(/\./g, '/')}`;

/** Write every sysctl, in order, or fail at the first with an error naming it (nothing is undone: runc doesn't either). */
export function applyNetSysctls(sysctls: Record<string, string>, procSys = '/proc/sys'): void {
  const entries = Object.entries(sysctls ?? {});
  for (const [k, v] of entries) {
    checkNetSysctl(k);
    if (typeof v !== 'string') throw invalidArgument(`sysctl ${JSON.stringify(k)}: the value must be a string`);
  }
  for (const [k, v] of entries) {
    const file = sysctlFile(k, procSys);
    if (!existsSync(file)) throw invalidArgument(`sysctl ${JSON.stringify(k)}: open ${file}: no such file or directory (the guest kernel has no such sysctl)`);
    try {
      writeFileSync(file, v);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'EINVAL' ? 'invalid argument' : (err.message ?? String(e)).replace(/^[A-Z]+: /, '');
      throw invalidArgument(`sysctl ${JSON.stringify(k)}: write ${file} ${JSON.stringify(v)}: ${why}`);
    }
  }
}
