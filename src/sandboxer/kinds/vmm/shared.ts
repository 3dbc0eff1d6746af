// The pod's shared directory: what virtiofsd serves to the guest (kata's
// /run/kata-containers/shared/sandboxes/<id>). Each container's rootfs (and every host file
// its spec bind-mounts) is bind-mounted below it, and the spec is rewritten to the guest's
// view of those paths. virtiofsd runs in its own mount namespace, made before the
// containers exist: the dir is a mount of its own with shared propagation, so mounts
// added later reach virtiofsd's (slave) copy. This host's / is private (DESIGN.md), so the
// dir can't rely on the parent's propagation.
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Spec, Mount } from '../../../oci/types.js';
import { internal } from '../../../common/errors.js';
import { exec } from '../../../common/exec.js';
import { parseMountinfo, unmountPath } from '../../../storage/mounts.js';
import { GUEST_SHARED_DIR } from '../../../agent/paths.js';

async function mount(args: string[], what: string): Promise<void> {
  const r = await exec('mount', args);
  if (r.code !== 0) throw internal(`${what}: ${r.stderr || `mount exited ${r.code}`}`);
}

/** Mount points at or below dir, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const d = path.resolve(dir);
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint)
    .filter((m) => m === d || m.startsWith(d + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Unmount everything at or below dir (lazily when busy; what still fails is left for the caller to see). */
export async function unmountTree(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) await unmountPath(m).catch(() => {});
}

/** Remove dir only when nothing is mounted below it: a bind mount left there would be deleted through. */
export async function removeUnmounted(dir: string): Promise<void> {
  await unmountTree(dir);
  const left = mountsUnder(dir);
  if (left.length) throw internal(`${dir}: still mounted at ${left[0]}: not removing it`);
  await fs.rm(dir, { recursive: true, force: true });
}

const isBind = (m: Mount) => m.type === 'bind' || !!m.options?.some((o) => o === 'bind' || o === 'rbind');

export class SharedDir {
  /** guestDir: where the guest mounts hostDir (tests running the agent on the host: hostDir). */
  constructor(readonly hostDir: string, readonly guestDir = GUEST_SHARED_DIR) {}

  /** The dir as a shared mount of its own (idempotent: a sandboxer restart finds it mounted). */
  async setup(): Promise<void> {
    await fs.mkdir(this.hostDir, { recursive: true, mode: 0o700 });
    if (!mountsUnder(this.hostDir).includes(path.resolve(this.hostDir))) {
      await mount(['--bind', this.hostDir, this.hostDir], `bind ${this.hostDir}`);
    }
    await mount(['--make-shared', this.hostDir], `make ${this.hostDir} shared`);
  }

  /**
   * Show a host directory to the guest, read-only, at <shared>/<name> (the agent snapshot
   * cache): the guest can't write through it, whatever runs in it.
   */
  async shareReadOnly(source: string, name: string): Promise<void> {
    const target = path.join(this.hostDir, name);
    await fs.mkdir(target, { recursive: true });
    await mount(['--bind', '-o', 'ro', source, target], `share ${source} read-only with the guest`);
  }

  private dirOf(key: string): string {
    return path.join(this.hostDir, key);
  }

  /**
   * Share a container's rootfs and bind-mount sources with the guest; returns the spec as the
   * guest's runc must see it. On failure nothing stays mounted.
   */
  async share(key: string, spec: Spec): Promise<Spec> {
    const base = this.dirOf(key);
    const guestBase = path.posix.join(this.guestDir, key);
    await removeUnmounted(base);
    await fs.mkdir(path.join(base, 'rootfs'), { recursive: true });
    const g: Spec = structuredClone(spec);
    try {
      await mount(['--rbind', spec.root.path, path.join(base, 'rootfs')], `share the rootfs of ${key.slice(0, 12)}`);
      g.root = { ...g.root, path: `${guestBase}/rootfs` };
      let i = 0;
      for (const m of g.mounts ?? []) {
        if (!isBind(m) || !m.source || !path.isAbsolute(m.source)) continue;
        const st = await fs.stat(m.source).catch(() => null);
        if (!st) continue; // runc would fail on it the same way in the guest
        const target = path.join(base, 'mounts', String(i));
        await fs.mkdir(path.dirname(target), { recursive: true });
        if (st.isDirectory()) await fs.mkdir(target); else await fs.writeFile(target, '');
        await mount(['--rbind', m.source, target], `share ${m.source} with the guest`);
        m.source = `${guestBase}/mounts/${i++}`;
      }
    } catch (e) {
      await removeUnmounted(base).catch(() => {});
      throw e;
    }
    return guestSpec(g, key);
  }

  async unshare(key: string): Promise<void> {
    await removeUnmounted(this.dirOf(key));
  }

  /** Everything unmounted and removed (the VM is gone). */
  async teardown(): Promise<void> {
    await removeUnmounted(this.hostDir);
  }
}

/** A pod's namespace as containerd's CRI names it: its sandbox container's, by pid (ours: a guest pid). */
const POD_NAMESPACE = /^\/proc\/\d+\/ns\/(ipc|uts|pid)$/;

/**
 * The rest of the guest's view: the VM is the pod, so its network is the containers' network
 * (the pod's netns path is the host's). The pod's IPC, UTS and PID namespaces, which
 * containerd's CRI names by its sandbox container's pid (a guest pid: the pid our Create
 * gave it), are the guest's, and stay for the agent to join (it checks the pid is a task's);
 * other paths are the host's and go. Hooks are host programs. The cgroup is the guest's own
 * (cgroup v2), behind a cgroup namespace as docker does on v2 hosts: /sys/fs/cgroup shows the
 * container's own limits. The pod's net.* sysctls were written once into the guest's network
 * namespace at the pod's set-up (the agent's SetSysctls): crun, finding no network namespace
 * of the container's own, would refuse them (kata's agent skips that check instead).
 */
export function guestSpec(spec: Spec, key: string): Spec {
  const namespaces = (spec.linux?.namespaces ?? []).filter((n) => n.type !== 'network')
    .map((n) => (n.path && POD_NAMESPACE.exec(n.path)?.[1] === n.type ? { type: n.type, path: n.path } : { type: n.type }));
  if (!namespaces.some((n) => n.type === 'cgroup')) namespaces.push({ type: 'cgroup' });
  spec.linux = { ...spec.linux, namespaces, cgroupsPath: `/tsula/${key}` };
  if (spec.linux.sysctl) {
    const rest = Object.fromEntries(Object.entries(spec.linux.sysctl).filter(([k]) => !k.startsWith('net.')));
    if (Object.keys(rest).length) spec.linux.sysctl = rest; else delete spec.linux.sysctl;
  }
  delete (spec as { hooks?: unknown }).hooks;
  return spec;
}
