// Cleanup shared by the daemon helpers (kept apart so that daemon.ts and containerd.ts can
// both use it without importing each other).
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { NetworkFirewall } from '../../src/engine/networks/firewall.js';
import { Logger } from '../../src/common/log.js';

const execFileP = promisify(execFile);

/**
 * Everything a sandboxer under dir may have left: the sandboxer itself, its conmons, the
 * containers in its runc root, sandbox holders, the shims containerd started, mounts.
 */
export async function killSandboxerLeftovers(dir: string): Promise<void> {
  const sbDirs = [path.join(dir, 'sb'), dir];
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir)) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
  }
  for (const sb of sbDirs) {
    const root = path.join(sb, 'runc', 'root');
    // (runc makes a root it is given: a dir already removed would come back, left in /tmp)
    const list = !existsSync(root) ? [] : await execFileP('runc', ['--root', root, 'list', '-q']).then((r) => r.stdout.split('\n').filter(Boolean), () => [] as string[]);
    for (const id of list) {
      // a paused (frozen) container can't be killed
      await execFileP('runc', ['--root', root, 'resume', id]).catch(() => {});
      await execFileP('runc', ['--root', root, 'delete', '--force', id]).catch(() => {});
    }
    // sandbox holders (`sleep infinity` in their own namespaces) are named by their records
    for (const f of await fs.readdir(path.join(sb, 'sandboxes')).catch(() => [] as string[])) {
      const rec = JSON.parse(await fs.readFile(path.join(sb, 'sandboxes', f), 'utf8').catch(() => '{}')) as { pid?: number };
      const cmd = rec.pid ? await fs.readFile(`/proc/${rec.pid}/cmdline`, 'utf8').catch(() => '') : '';
      if (cmd.startsWith('sleep')) { try { process.kill(rec.pid!, 'SIGKILL'); } catch { /* gone */ } }
    }
  }
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
  for (const m of mounts.reverse()) await execFileP('umount', ['-l', m]).catch(() => {});
}

/**
 * The iptables rules a tsulad keeps per network (src/engine/networks/firewall.ts): its chains,
 * named after the bridge, and the jumps to them. They outlive the daemon, as dockerd's do.
 */
export async function removeNetworkRules(bridge: string): Promise<void> {
  await new NetworkFirewall(new Logger('error')).remove({ name: bridge, bridge });
}

/** The bridges of a daemon's networks, from its records under graph. */
export async function networkBridges(graph: string): Promise<string[]> {
  const dir = path.join(graph, 'networks', 'records');
  const out: string[] = [];
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
    const rec = await fs.readFile(path.join(dir, f), 'utf8').then((t) => JSON.parse(t) as { bridge?: string }, () => ({} as { bridge?: string }));
    if (rec.bridge) out.push(rec.bridge);
  }
  return out;
}

/**
 * Remove cgroup `rel` (absolute, cgroupfs) and the empty dirs below it in every hierarchy
 * mounted under /sys/fs/cgroup (v1's may be cpu and cpuacct apart, or cpu,cpuacct; v2 one),
 * deepest first: a pod's cgroup_parent a test named, whatever made dirs in it.
 */
export async function removeCgroupEverywhere(rel: string): Promise<void> {
  // (never a hierarchy's root: that would take every empty cgroup of the host)
  if (!/^\/[^/]/.test(rel) || rel.split('/').includes('..')) throw new Error(`removeCgroupEverywhere: ${JSON.stringify(rel)} is no cgroup below a root`);
  const rm = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await rm(path.join(dir, e.name));
    }
    await fs.rmdir(dir).catch(() => {});
  };
  const roots = ['/sys/fs/cgroup', ...(await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((c) => path.join('/sys/fs/cgroup', c))];
  for (const r of roots) await rm(path.join(r, rel));
}
