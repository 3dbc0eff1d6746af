// Network namespaces pinned as files (`<dir>/<id>`), the way containerd's CRI and
// `ip netns` keep them: the namespace lives as long as its nsfs bind mount, with no process
// holding it, so a pod's network survives a tsulad restart and is found again by listing
// the dir.
//
// Why `unshare --net=<file> ip link set lo up`: Node cannot unshare(2) a thread of its own.
// util-linux's unshare creates the namespace in a child, bind-mounts the child's
// /proc/<pid>/ns/net onto <file> from the parent, then execs `ip` inside it: one short exec
// creates, pins and brings `lo` up (the runtime's job, not a CNI plugin's: see index.ts), and
// nothing is left running. `ip netns add` would want its own /run/netns; we keep the state dir.
import { promises as fs, constants } from 'node:fs';
import * as path from 'node:path';
import { alreadyExists, internal, invalidArgument, withContext } from '../common/errors.js';
import { exec, execOk } from '../common/exec.js';

export interface PinnedNetns {
  id: string;
  path: string;
  /** false: a file without its nsfs mount (a create or remove that a crash cut short). */
  mounted: boolean;
}

export interface NetnsOptions {
  /** Where the pinned files live, e.g. `<state>/netns`. */
  dir: string;
  /** Bound on each host command (unshare, umount). */
  timeoutMs?: number;
}

// what a file name here may be (an id never becomes a path elsewhere)
const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export class NetnsManager {
  readonly dir: string;
  private readonly timeoutMs: number;

  constructor(o: NetnsOptions) {
    this.dir = path.resolve(o.dir);
    this.timeoutMs = o.timeoutMs ?? 10_000;
  }

  path(id: string): string {
    if (!ID_RE.test(id) || id.includes('..')) throw invalidArgument(`invalid network namespace id "${id}"`);
    return path.join(this.dir, id);
  }

  /**
   * A new network namespace pinned at `<dir>/<id>` with `lo` up; its path. AlreadyExists if
   * one is pinned there; a bare file left by a crash is reused.
   */
  async create(id: string, signal?: AbortSignal): Promise<string> {
    const file = this.path(id);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    try {
      await (await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o444)).close();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw internal(`create netns file ${file}: ${(e as Error).message}`, e);
      if (await isMounted(file)) throw alreadyExists(`network namespace ${id} exists (${file})`);
    }
    try {
      await execOk('unshare', [`--net=${file}`, 'ip', 'link', 'set', 'lo', 'up'], { timeoutMs: this.timeoutMs, signal });
      if (!(await isMounted(file))) throw internal(`unshare did not pin the namespace at ${file}`);
    } catch (e) {
      await this.remove(id).catch(() => { /* the create error says more */ });
      throw withContext(e, `create network namespace ${id}`);
    }
    return file;
  }

  /** Unpin and delete; a namespace that is not there is fine (recovery calls this blindly). */
  async remove(id: string, signal?: AbortSignal): Promise<void> {
    const file = this.path(id);
    // a file can carry more than one mount (two creates racing): peel them all
    for (let i = 0; i < 8 && await isMounted(file); i++) {
      const r = await exec('umount', [file], { timeoutMs: this.timeoutMs, signal });
      if (r.code !== 0 && await isMounted(file)) {
        // busy is not expected for nsfs; a lazy detach still frees the name
        await execOk('umount', ['-l', file], { timeoutMs: this.timeoutMs, signal });
      }
    }
    if (await isMounted(file)) throw internal(`network namespace ${id}: ${file} is still mounted`);
    await fs.rm(file, { force: true });
  }

  /** Is a namespace pinned for this id? */
  async exists(id: string): Promise<boolean> {
    return isMounted(this.path(id));
  }

  /** Every file in the dir (pinned or left bare by a crash), for recovery. */
  async list(): Promise<PinnedNetns[]> {
    const names = await fs.readdir(this.dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [] as string[];
      throw internal(`list ${this.dir}: ${e.message}`, e);
    });
    const mounts = await nsfsMounts();
    const real = await fs.realpath(this.dir).catch(() => this.dir);
    return names.filter((n) => ID_RE.test(n)).sort()
      .map((id) => ({ id, path: path.join(this.dir, id), mounted: mounts.has(path.join(real, id)) }));
  }
}

/** Mount points of nsfs mounts in our mount namespace. */
async function nsfsMounts(): Promise<Set<string>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    // "<id> <parent> <maj:min> <root> <mount point> <opts> [optional...] - <fstype> <source> <super opts>"
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0 || f[dash + 1] !== 'nsfs') continue;
    out.add(f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/** Is `file` an nsfs mount point (a pinned namespace)? */
export async function isMounted(file: string): Promise<boolean> {
  return (await nsfsMounts()).has(await realPath(file));
}

// mountinfo names mount points by their real path (/var/run/... is /run/...)
async function realPath(file: string): Promise<string> {
  const abs = path.resolve(file);
  const dir = await fs.realpath(path.dirname(abs)).catch(() => path.dirname(abs));
  return path.join(dir, path.basename(abs));
}
