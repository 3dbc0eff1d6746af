// The pod's shared directory: what virtiofsd serves to the guest (kata's
// /run/kata-containers/shared/sandboxes/<id>). Each container's rootfs is bind-mounted below
// it at <key>/rootfs; every host file or dir a container's spec bind-mounts is shared once per
// pod, at .volumes/<id>, whichever containers use it: virtiofsd keys its inodes by (ino, dev,
// mount), so one host dir reached through two mounts would be two guest inodes, and a unix
// socket, a lock or an inotify watch in one container would never meet the other's. Each
// container's guest spec binds that one path (read-only there when it asked so: the guest
// kernel enforces it). Which containers use which share is on disk, outside the guest's view
// (<dir>.private/refs/<key>), so a restarted sandboxer counts the same; a share goes when no
// container's record names it. virtiofsd runs in its own mount namespace, made before the
// containers exist: the dir is a mount of its own with shared propagation, so mounts added
// later reach virtiofsd's (slave) copy. This host's / is private (DESIGN.md), so the dir can't
// rely on the parent's propagation.
import { promises as fs, readFileSync } from 'node:fs';
import { sha256Hex } from '../../../common/crypto.js';
import * as path from 'node:path';
import type { Spec, Mount } from '../../../oci/types.js';
import { internal } from '../../../common/errors.js';
import { exec } from '../../../common/exec.js';
import { parseMountinfo, unmountPath } from '../../../storage/mounts.js';
import { GUEST_SHARED_DIR } from '../../../agent/paths.js';

/** The pod's volume shares, below the shared dir (a container id never starts with a dot). */
export const VOLUMES_IN_SHARED = '.volumes';

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
const isReadOnly = (m: Mount) => !!m.options?.some((o) => o === 'ro' || o === 'rro');

/** An empty file or dir to mount on, as source is. */
async function mountPointFor(target: string, dir: boolean): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  if (dir) await fs.mkdir(target, { recursive: true });
  else await fs.writeFile(target, '', { flag: 'a' });
}

/**
 * Bind source at target read-only, its other mount flags (nosuid, nodev, noexec) kept: made
 * read-only at staging, a private place, then bound at target, so the copy that propagates
 * to virtiofsd's namespace is read-only already (a remount does not propagate; mount(8)'s
 * `--bind -o ro` would also drop nosuid and nodev).
 */
async function bindReadOnly(source: string, target: string, staging: string, recursive: boolean): Promise<void> {
  const dir = (await fs.stat(source)).isDirectory();
  await removeUnmounted(staging);
  await mountPointFor(staging, dir);
  const how = recursive ? '--rbind' : '--bind';
  try {
    await mount([how, source, staging], `bind ${source}`);
    const own = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === path.resolve(staging)).at(-1);
    const keep = (own?.mountOptions ?? '').split(',').filter((o) => o && o !== 'rw' && o !== 'ro');
    await mount(['-o', ['remount', 'bind', 'ro', ...keep].join(','), staging], `make ${source} read-only`);
    await mountPointFor(target, dir);
    await mount([how, staging, target], `share ${source} read-only with the guest`);
  } finally {
    await removeUnmounted(staging);
  }
}

const chains = new Map<string, Promise<unknown>>();
/** One change at a time to a shared dir (a pod's creates and deletes may overlap). */
function serialized<T>(key: string, f: () => Promise<T>): Promise<T> {
  const run = (chains.get(key) ?? Promise.resolve()).then(f, f);
  const tail = run.catch(() => {});
  chains.set(key, tail);
  void tail.then(() => { if (chains.get(key) === tail) chains.delete(key); });
  return run;
}

export class SharedDir {
  /** Host-only state next to the shared dir: the guest can't see or change it. */
  private readonly privateDir: string;

  /** guestDir: where the guest mounts hostDir (tests running the agent on the host: hostDir). */
  constructor(readonly hostDir: string, readonly guestDir = GUEST_SHARED_DIR) {
    this.privateDir = `${path.resolve(hostDir)}.private`;
  }

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
    await bindReadOnly(source, path.join(this.hostDir, name), path.join(this.privateDir, 'staging', name), false);
  }

  private dirOf(key: string): string {
    return path.join(this.hostDir, key);
  }

  private get volumesDir(): string {
    return path.join(this.hostDir, VOLUMES_IN_SHARED);
  }

  private refsOf(key: string): string {
    return path.join(this.privateDir, 'refs', key);
  }

  /**
   * Share a container's rootfs and bind-mount sources with the guest; returns the spec as the
   * guest's runc must see it. On failure nothing of it stays mounted.
   */
  share(key: string, spec: Spec): Promise<Spec> {
    return serialized(this.privateDir, async () => {
      await this.release(key); // a key used again: its last record goes first
      const base = this.dirOf(key);
      const g: Spec = structuredClone(spec);
      // which source each bind mount is: its real path and inode (a dir made again at the path is another)
      const binds: { m: Mount; id: string; dir: boolean; ro: boolean }[] = [];
      for (const m of g.mounts ?? []) {
        if (!isBind(m) || !m.source || !path.isAbsolute(m.source)) continue;
        const real = await fs.realpath(m.source).catch(() => null);
        const st = real ? await fs.stat(real).catch(() => null) : null;
        if (!real || !st) continue; // runc would fail on it the same way in the guest
        const id = sha256Hex(`${real}\0${st.dev}\0${st.ino}`).slice(0, 16);
        binds.push({ m, id, dir: st.isDirectory(), ro: isReadOnly(m) });
      }
      // A source is shared read-only while only read-only binds use it: a writer needs a writable
      // share, and a read-only one takes that one when there is one (one inode for both: their
      // sockets, locks and watches meet; the guest's bind is read-only). Only a source first
      // shared read-only, then bound writable, is two shares (a remount would not reach virtiofsd).
      const mounted = new Set(mountsUnder(this.volumesDir));
      const rw = (id: string) => mounted.has(path.join(this.volumesDir, `${id}-rw`)) || binds.some((b) => b.id === id && !b.ro);
      const shares = binds.map((b) => `${b.id}-${b.ro && !rw(b.id) ? 'ro' : 'rw'}`);
      // recorded before anything is mounted: a crash in between leaves a share the next sweep finds
      await this.writeRefs(key, [...new Set(shares)]);
      try {
        await fs.mkdir(path.join(base, 'rootfs'), { recursive: true });
        await mount(['--rbind', spec.root.path, path.join(base, 'rootfs')], `share the rootfs of ${key.slice(0, 12)}`);
        g.root = { ...g.root, path: `${path.posix.join(this.guestDir, key)}/rootfs` };
        for (const [i, b] of binds.entries()) {
          const name = shares[i]!;
          const target = path.join(this.volumesDir, name);
          if (!mounted.has(target)) {
            if (name.endsWith('-ro')) {
              await bindReadOnly(b.m.source!, target, path.join(this.privateDir, 'staging', name), true);
            } else {
              await mountPointFor(target, b.dir);
              await mount(['--rbind', b.m.source!, target], `share ${b.m.source} with the guest`);
            }
            mounted.add(target);
          }
          b.m.source = path.posix.join(this.guestDir, VOLUMES_IN_SHARED, name);
        }
      } catch (e) {
        await this.release(key).catch(() => {});
        throw e;
      }
      return guestSpec(g, key);
    });
  }

  /** The container is gone: its rootfs, and each share no other container uses. */
  unshare(key: string): Promise<void> {
    return serialized(this.privateDir, () => this.release(key));
  }

  private async release(key: string): Promise<void> {
    await removeUnmounted(this.dirOf(key));
    await fs.rm(this.refsOf(key), { force: true });
    await this.sweep();
  }

  private async writeRefs(key: string, shares: string[]): Promise<void> {
    const f = this.refsOf(key);
    await fs.mkdir(path.dirname(f), { recursive: true, mode: 0o700 });
    await fs.writeFile(`${f}.tmp`, JSON.stringify(shares));
    await fs.rename(`${f}.tmp`, f);
  }

  /** How many containers use each share (what their records on disk name). */
  async shareCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const refs = path.join(this.privateDir, 'refs');
    for (const f of await fs.readdir(refs).catch(() => [] as string[])) {
      if (f.endsWith('.tmp')) continue;
      let names: unknown = [];
      try { names = JSON.parse(await fs.readFile(path.join(refs, f), 'utf8')); } catch { /* gone meanwhile (written whole: tmp + rename) */ }
      for (const n of Array.isArray(names) ? names : []) if (typeof n === 'string') counts.set(n, (counts.get(n) ?? 0) + 1);
    }
    return counts;
  }

  /** Unmount and remove the shares no container's record names. */
  private async sweep(): Promise<void> {
    const used = await this.shareCounts();
    let failed: unknown = null;
    for (const name of await fs.readdir(this.volumesDir).catch(() => [] as string[])) {
      if (!used.has(name)) await removeUnmounted(path.join(this.volumesDir, name)).catch((e) => { failed ??= e; });
    }
    if (failed) throw failed;
  }

  /** Everything unmounted and removed (the VM is gone). */
  async teardown(): Promise<void> {
    await removeUnmounted(this.hostDir);
    await removeUnmounted(this.privateDir);
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
