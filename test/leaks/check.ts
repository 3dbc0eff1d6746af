// The suite's last step (scripts/test.sh runs it after every other file): nothing a test
// started may outlive it. Compared with the snapshot taken before the suite
// (TSULA_LEAK_BASELINE); what leaked is reported, then removed so the next run starts clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { snapshot, type Snapshot } from './snapshot.js';

const file = process.env.TSULA_LEAK_BASELINE;
if (!file) throw new Error('the leak check compares with a snapshot taken before the suite: run it through scripts/test.sh (TSULA_LEAK_BASELINE)');
const before = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;

test('the suite left no process, mount, network namespace or interface, iptables chain, cgroup or shim dir behind', async () => {
  const now = await snapshot();
  const known = new Set(before.processes.map((p) => `${p.pid}/${p.start}`));
  const procs = now.processes.filter((p) => !known.has(`${p.pid}/${p.start}`));
  const mounts = now.mounts.filter((m) => !before.mounts.includes(m));
  const netns = now.netns.filter((n) => !before.netns.includes(n));
  const cgroups = now.cgroups.filter((c) => !before.cgroups.includes(c));
  const shimDirs = now.shimDirs.filter((d) => !(before.shimDirs ?? []).includes(d));
  const links = now.links.filter((l) => !(before.links ?? []).includes(l));
  const chains = (now.chains ?? []).filter((c) => !(before.chains ?? []).includes(c));
  const report = [
    ...procs.map((p) => `process ${p.pid}: ${p.argv.join(' ').slice(0, 200)}`),
    ...mounts.map((m) => `mount ${m}`), ...netns.map((n) => `netns ${n}`), ...cgroups.map((c) => `cgroup ${c}`),
    ...shimDirs.map((d) => `shim dir ${d}`), ...links.map((l) => `network interface ${l}`),
    ...chains.map((c) => `iptables chain ${c}`),
  ];
  // clean up what leaked, so that the machine is usable for the next run
  for (const p of procs) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const m of [...mounts].sort((a, b) => b.length - a.length)) { try { execFileSync('umount', ['-l', m]); } catch { /* gone */ } }
  for (const n of netns) { try { execFileSync('ip', ['netns', 'delete', n]); } catch { /* gone */ } }
  for (const c of [...cgroups].sort((a, b) => b.length - a.length)) {
    // a leaked container's processes first (they are not the components' own: not in `procs`)
    const pids = (() => { try { return readFileSync(`/sys/fs/cgroup/${c}/cgroup.procs`, 'utf8').split('\n').filter(Boolean); } catch { return []; } })();
    for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
    if (pids.length) await new Promise((r) => setTimeout(r, 200));
    try { execFileSync('rmdir', [`/sys/fs/cgroup/${c}`]); } catch { /* busy */ }
  }
  for (const l of links) { try { execFileSync('ip', ['link', 'delete', l]); } catch { /* gone with its peer */ } }
  for (const c of chains) removeChain(...(c.split(' ') as [string, string]));
  for (const d of shimDirs) {
    // runc state of a shim's container: delete the container first (it may still run)
    const runc = /^\/run\/containerd\/runc\/([^/]+)\/([^/]+)$/.exec(d);
    if (runc) { try { execFileSync('runc', ['--root', `/run/containerd/runc/${runc[1]}`, 'delete', '--force', runc[2]!]); } catch { /* gone */ } }
    rmSync(d, { recursive: true, force: true });
  }
  assert.deepEqual(report, [], `left behind by the tests:\n${report.join('\n')}`);
});

/** A leaked chain: the rules that jump to it, then the chain. */
function removeChain(table: string, chain: string): void {
  const saved = execFileSync('iptables-save', ['-t', table], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  for (const l of saved.split('\n')) {
    if (!l.startsWith('-A ') || !l.includes(` -j ${chain}`) || !new RegExp(` -j ${chain}( |$)`).test(l)) continue;
    try { execFileSync('sh', ['-c', `iptables -w -t ${table} ${l.replace(/^-A /, '-D ')}`]); } catch { /* gone */ }
  }
  try { execFileSync('iptables', ['-w', '-t', table, '-F', chain]); execFileSync('iptables', ['-w', '-t', table, '-X', chain]); } catch { /* gone */ }
}
