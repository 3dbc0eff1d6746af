// `top`: the host's ps output, narrowed to a container's processes, as dockerd's ContainerTop
// runs it (top_unix.go): ps with the caller's arguments and -q<pids> (again without -q when ps
// takes the two together badly, e.g. BSD options), then the rows of the container's pids kept
// (with the thread lines after them that ps -m prints with a "-" PID).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { internal, invalidArgument } from '../../common/errors.js';
import { psEfTable, type PsProcess } from '../../common/ps.js';
import { parsePasswd } from '../../oci/user.js';

/** dockerd's validatePSArgs: an output column renamed to look like the PID one is refused (only pid=PID…). */
function checkPsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (m[1] !== 'pid') throw invalidArgument(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

const runPs = (args: string[]) => new Promise<{ out: string; err: string } | null>((res) => execFile('ps', args, (e, out, err) => res(e ? (err ? { out: '', err } : null) : { out, err: '' })));

/** Go's strings.Fields on ASCII whitespace only (dockerd's fieldsASCII). */
const fields = (s: string) => s.split(/[ \t\n\v\f\r]+/).filter(Boolean);

export async function psTable(containerPids: number[], psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
  checkPsArgs(psArgs);
  const args = psArgs.split(' ');
  let r = await runPs([...args, `-q${containerPids.join(',')}`]);
  if (!r || r.err) r = await runPs(args);
  // dockerd's wording: "ps: " and the first line of ps' complaint (not its usage text)
  if (!r || r.err) throw internal(`ps: ${(r?.err ?? '').split('\n')[0] || 'exit status 1'}`);
  const pids = new Set(containerPids);
  const lines = r.out.split('\n');
  const titles = fields(lines[0] ?? '');
  const pidCol = titles.indexOf('PID');
  if (pidCol < 0) throw internal('Couldn\'t find PID field in ps output');
  const procs: string[][] = [];
  const row = (f: string[]) => procs.push([...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')]);
  let inContainer = false;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const f = fields(line);
    if (f[pidCol] === '-') { if (inContainer) row(f); continue; }
    const p = Number(f[pidCol]);
    if (!/^\d+$/.test(f[pidCol] ?? '')) throw internal(`Unexpected pid '${f[pidCol]}': strconv.Atoi: parsing ${JSON.stringify(f[pidCol])}: invalid syntax`);
    inContainer = pids.has(p);
    if (inContainer) row(f);
  }
  return { Titles: titles, Processes: procs };
}

/**
 * `top` of a container in a VM: the host's ps can't see its processes (their pids are the
 * guest's), so the guest's agent reads them from its /proc and they are drawn as `ps -ef`
 * draws them, in the host's time zone and with the host's user names, as for a container on
 * the host. Other ps options are the host ps's own: refused by name.
 */
export async function guestPsTable(name: string, runtime: string, psArgs: string, processes: () => Promise<PsProcess[]>): Promise<{ Titles: string[]; Processes: string[][] }> {
  if (psArgs.trim() !== '-ef') {
    throw invalidArgument(`container ${name} runs in a VM (runtime ${runtime}): top shows its processes as ps -ef does; ps options ("${psArgs}") need the host's ps, which cannot see them (run ps in it: docker exec ${name} ps ${psArgs})`);
  }
  const procs = await processes();
  const users = new Map(parsePasswd(await readFile('/etc/passwd', 'utf8').catch(() => '')).map((u) => [u.uid, u.name] as const));
  return psEfTable(procs, Date.now(), (uid) => users.get(uid));
}
