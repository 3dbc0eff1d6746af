// `top`: the host's ps output, narrowed to a container's processes (docker's approach).
import { execFile } from 'node:child_process';
import { internal, invalidArgument } from '../../common/errors.js';

export async function psTable(containerPids: number[], psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
  const pids = new Set(containerPids);
  const args = psArgs.split(/\s+/).filter(Boolean);
  if (args.some((a) => !/^[-\w,=:%]+$/.test(a))) throw invalidArgument(`invalid ps arguments "${psArgs}"`);
  // dockerd's wording: "ps: " and the first line of ps' complaint (not its usage text)
  const out = await new Promise<string>((res, rej) => execFile('ps', args, (err, so, se) =>
    err ? rej(internal(`ps: ${se.split('\n')[0] || err.message}`)) : res(so)));
  const lines = out.split('\n').filter(Boolean);
  const titles = lines[0].trim().split(/\s+/);
  const pidCol = titles.indexOf('PID');
  if (pidCol < 0) throw internal(`Couldn't find PID field in ps output`);
  const procs = lines.slice(1).map((l) => {
    const f = l.trim().split(/\s+/);
    return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
  }).filter((f) => pids.has(Number(f[pidCol])));
  return { Titles: titles, Processes: procs };
}
