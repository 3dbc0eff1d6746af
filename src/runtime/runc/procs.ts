// Finding conmon processes by their argv (/proc/<pid>/cmdline): after a crash the pid files
// may be missing (conmon killed before writing one) or stale (a recycled pid), and recovery
// must still find every monitor of ours, and only ours: its argv names our runc --root.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface ConmonProc { id: string; pid: number; exec: boolean }

async function argvOf(pid: number | string): Promise<string[] | null> {
  const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  return raw ? raw.split('\0') : null;
}

function parse(argv: string[]): { id: string; root: string | null; exec: boolean } | null {
  if (path.basename(argv[0] ?? '') !== 'conmon') return null;
  const c = argv.indexOf('-c');
  const id = c >= 0 ? argv[c + 1] : undefined;
  if (!id) return null;
  const root = argv.find((a) => a.startsWith('--root='))?.slice('--root='.length) ?? null;
  return { id, root, exec: argv.includes('--exec') };
}

/** Live conmons started with `--runtime-arg --root=<runtimeRoot>`, exec monitors included. */
export async function findConmons(runtimeRoot: string): Promise<ConmonProc[]> {
  const out: ConmonProc[] = [];
  for (const name of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await argvOf(name);
    const p = argv && parse(argv);
    if (p && p.root === runtimeRoot) out.push({ id: p.id, pid: Number(name), exec: p.exec });
  }
  return out;
}

/** Pids of every conmon (container and exec monitors) of container id under runtimeRoot. */
export async function conmonsOf(runtimeRoot: string, id: string): Promise<number[]> {
  return (await findConmons(runtimeRoot)).filter((c) => c.id === id).map((c) => c.pid);
}

/** Is pid a live conmon monitoring container id? */
export async function isConmonOf(pid: number, id: string): Promise<boolean> {
  const argv = await argvOf(pid);
  return !!argv && parse(argv)?.id === id;
}
