// What the OCI runtime and the host say about a test daemon's containers, independent of
// tsulad: runc's own list, conmon processes (by argv), and processes in a container's cgroup.
// Crash tests check records against these.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { TestDaemon } from './daemon.js';

const execFileP = promisify(execFile);

export function runcRoot(d: TestDaemon): string {
  return path.join(d.state, 'runtime', 'runc', 'root');
}

/** runc list of the daemon's root: id → status. */
export async function runcList(d: TestDaemon): Promise<Map<string, string>> {
  const out = await execFileP('runc', ['--root', runcRoot(d), 'list', '--format', 'json']).then((r) => r.stdout, () => 'null');
  const list = (JSON.parse(out || 'null') as Array<{ id: string; status: string }> | null) ?? [];
  return new Map(list.map((c) => [c.id, c.status]));
}

/** Live conmons of this daemon (their argv names its state dir), by container id (exec ones too). */
export async function conmons(d: TestDaemon): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (path.basename(argv[0]) !== 'conmon' || !argv.some((a) => a.includes(d.state))) continue;
    const id = argv[argv.indexOf('-c') + 1];
    out.set(id, [...(out.get(id) ?? []), Number(pid)]);
  }
  return out;
}

/** Pids in the container's cgroup (tsula's cgroupsPath is /tsula/<id>): its init, a waiting runc init. */
export async function cgroupPids(ids: Iterable<string>): Promise<Map<string, number[]>> {
  const want = new Set(ids);
  const out = new Map<string, number[]>();
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    // a zombie is dead already; reaping the ones reparented to pid 1 is init's job, and this
    // VM's init (process_api) does it late
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (/^\d+ \(.*\) Z 1 /.test(stat)) continue;
    const cg = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
    const m = /\/tsula\/([0-9a-f]{64})/.exec(cg);
    if (m && want.has(m[1])) out.set(m[1], [...(out.get(m[1]) ?? []), Number(pid)]);
  }
  return out;
}

export interface Inspected { id: string; name: string; status: string; running: boolean; pid: number; exitCode: number; error: string }

export async function inspectAll(d: TestDaemon): Promise<Inspected[]> {
  const ids = (await d.ok(['ps', '-a', '-q', '--no-trunc'])).split('\n').filter(Boolean);
  if (!ids.length) return [];
  const out = await d.ok(['inspect', ...ids]);
  return (JSON.parse(out) as Array<{ Id: string; Name: string; State: { Status: string; Running: boolean; Pid: number; ExitCode: number; Error: string } }>)
    .map((c) => ({ id: c.Id, name: c.Name.slice(1), status: c.State.Status, running: c.State.Running, pid: c.State.Pid, exitCode: c.State.ExitCode, error: c.State.Error }));
}

/**
 * Every container is either running with exactly one conmon and runc saying running, or not
 * running with nothing of it left in the runtime: no runc state, no conmon, no process in its
 * cgroup. Also nothing in the runtime for ids no record names. Returns the problems found.
 * pendingExits: an exited container may keep runc's "stopped" state and its exit file (the
 * disk is full and its record not written yet).
 */
export async function runtimeProblems(d: TestDaemon, o: { pendingExits?: boolean } = {}): Promise<string[]> {
  const recs = await inspectAll(d);
  const runc = await runcList(d);
  const mons = await conmons(d);
  const procs = await cgroupPids([...recs.map((r) => r.id), ...runc.keys(), ...mons.keys()]);
  const problems: string[] = [];
  const known = new Set(recs.map((r) => r.id));
  for (const r of recs) {
    const tag = `${r.id.slice(0, 12)} (${r.status})`;
    if (r.running) {
      if (!['running', 'paused'].includes(runc.get(r.id) ?? '')) problems.push(`${tag}: runc says ${runc.get(r.id) ?? 'nothing'}`);
      if ((mons.get(r.id) ?? []).length !== 1) problems.push(`${tag}: ${(mons.get(r.id) ?? []).length} conmons`);
    } else {
      const kept = o.pendingExits && r.status === 'exited' && runc.get(r.id) === 'stopped'
        && await fs.stat(path.join(d.state, 'runtime', 'runc', 'exits', r.id)).then(() => true, () => false);
      if (runc.has(r.id) && !kept) problems.push(`${tag}: runc still has it (${runc.get(r.id)})`);
      if (mons.has(r.id)) problems.push(`${tag}: conmon ${mons.get(r.id)!.join(',')} still alive`);
      if (procs.has(r.id)) problems.push(`${tag}: processes ${await describe(procs.get(r.id)!)} in its cgroup`);
    }
  }
  for (const id of new Set([...runc.keys(), ...mons.keys(), ...procs.keys()])) {
    if (!known.has(id)) problems.push(`${id.slice(0, 12)}: no record, but runc=${runc.get(id) ?? '-'} conmons=${mons.get(id)?.length ?? 0} procs=${procs.get(id)?.length ?? 0}`);
  }
  return problems;
}

/** "pid (comm) state ppid" of each pid, for messages. */
async function describe(pids: number[]): Promise<string> {
  const out: string[] = [];
  for (const pid of pids) {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => `${pid} (gone)`);
    out.push(stat.split(' ').slice(0, 4).join(' '));
  }
  return out.join(', ');
}

/** Wait for the daemon's process to end (a fault point killed it). */
export async function daemonDied(d: TestDaemon, ms = 60_000): Promise<void> {
  const p = d.proc;
  if (!p) return;
  if (p.exitCode === null && p.signalCode === null) {
    await Promise.race([
      new Promise((r) => p.once('exit', r)),
      new Promise((_, rej) => setTimeout(() => rej(new Error(`tsulad did not die within ${ms} ms`)), ms).unref()),
    ]);
  }
  d.proc = null;
}

/** Restart the daemon with TSULA_FAULT=point (or none). */
export async function restartWithFault(d: TestDaemon, point?: string): Promise<void> {
  await d.stop('SIGTERM');
  if (point) d.env.TSULA_FAULT = point; else delete d.env.TSULA_FAULT;
  await d.start();
}

/** The daemon was killed by its fault point (its log says so): start a clean one. */
export async function recoverFromFault(d: TestDaemon, point: string): Promise<void> {
  await daemonDied(d);
  const log = await d.log();
  if (!log.includes(`fault injection: TSULA_FAULT=${point}`)) throw new Error(`tsulad died, but not at ${point}:\n${log.slice(-2000)}`);
  delete d.env.TSULA_FAULT;
  await d.start();
}
