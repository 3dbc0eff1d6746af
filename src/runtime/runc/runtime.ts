// Runtime "runc": one conmon per container in front of runc. tsulad talks to runc for
// lifecycle verbs and to conmon's files and sockets for stdio, resize and exits.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { CreateRequest, ExecHandle, ExecRequest, Runtime, RuntimeState, StdioStream } from '../types.js';
import type { LinuxResources, Spec } from '../../oci/types.js';
import { detectCgroups, readCgroup, specCgroupPath, type CgroupLayout, type CgroupStats } from '../../cgroups/index.js';
import { OOM_FILE, OOM_SEEN_FILE, watchOomFile } from './oom-watch.js';
import { hostOomKilled } from '../host-oom.js';
import { PipeStdio } from './pipe-stdio.js';
import { spawnConmon, readPid, cleanRuntimeError, RUNC_LOG, type ConmonPaths } from './conmon.js';
import { connectAttach } from './attach.js';
import { withLogReplay } from '../log-replay.js';
import { ExitWatcher, type ExitCallback } from './exits.js';
import { failedPrecondition, internal, notFound } from '../../common/errors.js';
import type { Faults } from '../../common/faults.js';
import type { Logger } from '../../common/log.js';
import { exec } from '../../common/exec.js';
import { conmonsOf, findConmons, isConmonOf } from './procs.js';
import { startThroughCrunFifo, startThroughFifo, type InitProcess } from './exec-fifo.js';
import { removeFile } from '../../common/fsutil.js';
import { deleteStoppedState, type StuckCgroup } from './state-delete.js';
import { procStat } from '../../common/proc.js';

export interface RuncRuntimeOptions {
  name?: string;          // the runtime's name in tsula ("runc")
  runtimePath: string;    // /usr/sbin/runc
  runtimeArgs?: string[];
  conmonPath: string;     // /usr/bin/conmon
  stateDir: string;       // <state>/runc: runc --root, exit files
  faults?: Faults;        // crash tests: kill the daemon between conmon's start and its pid
  log?: Pick<Logger, 'warn'>;
  /**
   * How errors name a container (its runc id's first 12 by default): the sandboxer's runc ids
   * are keys of its own, which its clients never saw; they know the container's id.
   */
  displayName?: (id: string) => string;
}

export class RuncConmonRuntime implements Runtime {
  readonly name: string;
  readonly monitorsPollable = true;
  readonly directStdio = true;
  /** The pipes of creates with passthrough 'pipes', until attach() takes them. */
  private pipes = new Map<string, StdioStream>();
  /**
   * The pty size a conmon (by its dir) was started with (its spec's consoleSize), until its
   * first resize: that one is skipped when it is the same size (docker 28 repeats ConsoleSize
   * right after the start), since conmon's resize leaves the winsize's pixel fields unset and
   * the kernel would signal SIGWINCH for it (a redraw). Later ones always go: a program in the
   * container may have changed the size meanwhile.
   */
  private sizes = new Map<string, string>();
  private paths: ConmonPaths;
  private exitDir: string;
  private exits: ExitWatcher | null = null;
  private cgroups: Promise<CgroupLayout> | undefined;
  /** Exited containers whose runc state went before their exit was recorded (forgetState). */
  private stateGone = new Set<string>();
  /** Created, not yet started: their runc init, for a start through runc's exec fifo. */
  private created = new Map<string, InitProcess>();
  /**
   * runc itself under our --root: a start is a read of its exec fifo (exec-fifo.ts), a stopped
   * container's delete the removal of its cgroups and state (state-delete.ts).
   */
  private readonly runcItself: boolean;
  /** crun itself under our --root (the guest's runtime): a start is a write to its exec fifo. */
  private readonly crunItself: boolean;

  private shown(id: string): string {
    return this.o.displayName?.(id) ?? id.slice(0, 12);
  }

  constructor(private o: RuncRuntimeOptions) {
    this.name = o.name ?? 'runc';
    this.paths = { conmon: o.conmonPath, runtime: o.runtimePath, runtimeRoot: path.join(o.stateDir, 'root'), runtimeArgs: o.runtimeArgs };
    this.exitDir = path.join(o.stateDir, 'exits');
    const ownRoot = !(o.runtimeArgs ?? []).some((a) => a.startsWith('--root'));
    this.runcItself = path.basename(o.runtimePath) === 'runc' && ownRoot;
    this.crunItself = path.basename(o.runtimePath) === 'crun' && ownRoot;
  }

  private async runc(args: string[], what: string): Promise<string> {
    const r = await exec(this.o.runtimePath, [`--root=${this.paths.runtimeRoot}`, ...(this.paths.runtimeArgs ?? []), ...args]);
    if (r.code === 0) return r.stdout;
    const msg = cleanRuntimeError(r.stderr || `exit status ${r.code}`);
    if (/does not exist|not found/i.test(msg)) throw notFound(`${what}: ${msg}`);
    if (/not running|not paused|is paused|cannot (start|kill|pause)|already/i.test(msg)) throw failedPrecondition(`${what}: ${msg}`);
    throw internal(`${what}: ${msg}`);
  }

  async create(req: CreateRequest): Promise<number> {
    await fs.mkdir(this.exitDir, { recursive: true, mode: 0o700 });
    await this.exits?.remove(req.id);
    // the bundle is runtime state, rebuilt at every start: no fsync needed
    await fs.writeFile(path.join(req.bundle, 'config.json'), JSON.stringify(req.spec));
    this.noteSize(req.bundle, req.terminal ? req.spec.process?.consoleSize : undefined);
    // conmon closes the container's stdin whenever an attach connection ends (a detach
    // too) unless --leave-stdin-open: only stdinOnce containers may lose it that way
    const passthrough = req.terminal ? undefined : req.passthrough;
    const cp = spawnConmon(this.paths, {
      id: req.id, uuid: req.id, name: req.id, bundle: req.bundle,
      pidFile: path.join(req.bundle, 'pidfile'), logPath: req.logPath, logSizeMax: req.logSizeMax, exitDir: this.exitDir,
      terminal: req.terminal, stdin: req.stdin, leaveStdinOpen: req.stdin && !req.stdinOnce,
      ...(passthrough ? { passthrough } : {}),
    });
    this.o.faults?.hit('start:after-conmon');
    try {
      // the words of containerd-shim-runc-v2 (and so docker's), as for exec below
      const pid = await readPid(cp, 'OCI runtime create failed', path.join(req.bundle, RUNC_LOG));
      if (passthrough === 'pipes') this.pipes.set(req.id, PipeStdio.of(cp.pipes!));
      if (this.runcItself) {
        const startTime = await procStat(pid).then((st) => st.startTime, () => undefined);
        if (startTime) this.created.set(req.id, { pid, startTime });
      } else if (this.crunItself && !req.spec.hooks?.poststart?.length) {
        this.created.set(req.id, { pid, crun: true });
      }
      return pid;
    } catch (e) {
      if (passthrough === 'pipes') PipeStdio.of(cp.pipes!).close();
      throw e;
    } finally {
      cp.closePipes();
    }
  }

  async start(id: string): Promise<void> {
    const init = this.created.get(id);
    this.created.delete(id);
    const what = `start container ${this.shown(id)}`;
    const fifo = path.join(this.paths.runtimeRoot, id, 'exec.fifo');
    if (init && (await (init.crun ? startThroughCrunFifo(fifo, what) : startThroughFifo(fifo, init, what))) === 'started') return;
    await this.runc(['start', id], what);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.runc(['kill', ...(all ? ['--all'] : []), id, signal], `kill container ${this.shown(id)}`);
  }

  async pause(id: string): Promise<void> {
    await this.runc(['pause', id], `pause container ${this.shown(id)}`);
  }

  async resume(id: string): Promise<void> {
    await this.runc(['resume', id], `unpause container ${this.shown(id)}`);
  }

  async update(id: string, bundle: string, resources: LinuxResources): Promise<void> {
    // runc reads the new limits from a file (a spec LinuxResources); unset fields stay
    const file = path.join(bundle, 'update-resources.json');
    await fs.writeFile(file, JSON.stringify(resources));
    try {
      await this.runc(['update', '--resources', file, id], `update container ${this.shown(id)}`);
    } finally {
      await removeFile(file);
    }
  }

  /**
   * runc's state of an exited container holds no exit code (conmon's exit file does), so it can
   * go while the engine writes the exit down; delete() then only removes conmon's files.
   */
  async forgetState(id: string): Promise<void> {
    await this.deleteState(id, true); // as delete(force) would: processes the init left behind (--pid host)
    this.stateGone.add(id);
  }

  async delete(id: string, bundle: string, force: boolean): Promise<void> {
    this.pipes.get(id)?.close();
    this.pipes.delete(id);
    this.created.delete(id);
    this.sizes.delete(bundle);
    if (!this.stateGone.delete(id)) await this.deleteState(id, force);
    // conmon's per-run files; the bundle itself stays with the container record. The exit
    // file goes even before watchExits (recovery deletes what a crash left behind)
    await Promise.all(['attach', 'ctl', 'winsz', 'pidfile', 'conmon.pid', OOM_FILE, OOM_SEEN_FILE, RUNC_LOG].map((f) => removeFile(path.join(bundle, f))));
    await removeFile(path.join(this.exitDir, id));
    this.exits?.reset(id);
  }

  /** runc's state of a container goes: by its own delete's steps where that is all it would do, else by `runc delete`. */
  private async deleteState(id: string, force: boolean): Promise<void> {
    // runc deletes a stopped container alike with or without --force
    const stuck = (left: StuckCgroup[]) => this.o.log?.warn('cgroups of a stopped container would not go; runc delete decides', { id, left: left.map((c) => `${c.path} (${c.code})`) });
    // no directory under runc's root: runc knows no such container (one never started), and
    // would only say so, a process spawn each time
    if (!id.includes('/') && !(await fs.stat(path.join(this.paths.runtimeRoot, id)).then(() => true, () => false))) return;
    if (this.runcItself && await deleteStoppedState(this.paths.runtimeRoot, id, stuck)) return;
    try {
      await this.runc(['delete', ...(force ? ['--force'] : []), id], `delete container ${this.shown(id)}`);
    } catch (e) {
      if (!(e instanceof Error && e.name === 'NotFound')) throw e;
    }
  }

  /**
   * `runc delete --force` kills the processes (a created container's waiting runc init among
   * them) while conmon, their subreaper, still lives to reap them; then conmon goes, by
   * SIGKILL, found by argv as well (a conmon killed before it wrote its pid file), and last
   * the exit file it may have written meanwhile: nothing can write one after that.
   */
  async discard(id: string, bundle: string): Promise<void> {
    const pids = new Set(await conmonsOf(this.paths.runtimeRoot, id));
    const own = await this.conmonPid(bundle);
    if (own && await isConmonOf(own, id)) pids.add(own);
    await this.deleteState(id, true);
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ } }
    await this.delete(id, bundle, true);
  }

  /** runc's containers under our --root, and conmons (not exec ones) naming it. */
  async containerIds(): Promise<string[]> {
    const listed = (await this.runc(['list', '-q'], 'list containers')).split('\n').map((l) => l.trim()).filter(Boolean);
    const monitored = (await findConmons(this.paths.runtimeRoot)).filter((c) => !c.exec).map((c) => c.id);
    return [...new Set([...listed, ...monitored])];
  }

  async state(id: string): Promise<RuntimeState | null> {
    try {
      const out = await this.runc(['state', id], `state of ${this.shown(id)}`);
      const s = JSON.parse(out) as { status: string; pid: number; created?: string };
      const status = (['created', 'running', 'paused', 'stopped'].includes(s.status) ? s.status : 'unknown') as RuntimeState['status'];
      const createdAt = s.created ? new Date(s.created) : undefined;
      return { status, pid: s.pid, ...(createdAt && Number.isFinite(createdAt.getTime()) ? { createdAt } : {}) };
    } catch (e) {
      if (e instanceof Error && e.name === 'NotFound') return null;
      throw e;
    }
  }

  async pids(id: string): Promise<number[]> {
    const out = await this.runc(['ps', '--format', 'json', id], `processes of ${this.shown(id)}`);
    return (JSON.parse(out) as number[] | null) ?? [];
  }

  /** The container's cgroup, where its bundle's config.json puts it. */
  async stats(id: string, bundle: string): Promise<CgroupStats | null> {
    let spec: Spec;
    try {
      spec = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8')) as Spec;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`container ${this.shown(id)} has no bundle`);
      throw e;
    }
    const cg = specCgroupPath(spec.linux?.cgroupsPath, id);
    if (!cg) return null;
    this.cgroups ??= detectCgroups();
    const layout = await this.cgroups;
    // detail: containerd-shim-runc-v2 reports every counter (ctr task metrics shows per-CPU time)
    const usage = await readCgroup(layout, cg, { detail: true });
    return usage ? { version: layout.version, usage } : null;
  }

  /** conmon's attach socket; or, once, the pipes a create with passthrough 'pipes' made. */
  attach(id: string, bundle: string): Promise<StdioStream> {
    const own = this.pipes.get(id);
    if (own) { this.pipes.delete(id); return Promise.resolve(own); }
    return connectAttach(path.join(bundle, 'attach'));
  }

  async resize(_id: string, bundle: string, height: number, width: number): Promise<void> {
    await this.resizeTo(bundle, height, width);
  }

  async resizeExec(dir: string, height: number, width: number): Promise<void> {
    await this.resizeTo(dir, height, width);
  }

  private noteSize(dir: string, size: { height: number; width: number } | undefined): void {
    if (size) this.sizes.set(dir, `${winsize(size.height)} ${winsize(size.width)}`);
    else this.sizes.delete(dir);
    // execs' dirs come and go without a delete here: keep the map small
    if (this.sizes.size > 512) for (const k of [...this.sizes.keys()].slice(0, 256)) this.sizes.delete(k);
  }

  /** conmon's control FIFO: "1 <height> <width>\n" resizes the pty. */
  private async resizeTo(dir: string, height: number, width: number): Promise<void> {
    const size = `${winsize(height)} ${winsize(width)}`;
    const initial = this.sizes.get(dir);
    this.sizes.delete(dir);
    if (initial === size) return;
    await writeCtlLine(dir, `1 ${size}`);
  }

  /**
   * conmon writes `oom` into the bundle when the container's cgroup reported an OOM kill; it
   * may do so after the exit, so the cgroup's own count (there until runc delete) says it too.
   */
  async oomKilled(id: string, bundle: string): Promise<boolean> {
    const there = (f: string) => fs.access(path.join(bundle, f)).then(() => true, () => false);
    if (await there(OOM_FILE) || await there(OOM_SEEN_FILE)) return true;
    return hostOomKilled(bundle, id);
  }

  watchOom(_id: string, bundle: string, cb: () => void): () => void {
    return watchOomFile(bundle, cb);
  }

  /** conmon reopens the container's log file (after a rotation: CRI's ReopenContainerLog). */
  async reopenLog(_id: string, bundle: string): Promise<void> {
    await writeCtlLine(bundle, '2 0 0');
  }

  async exec(req: ExecRequest): Promise<ExecHandle> {
    const specPath = path.join(req.dir, 'process.json');
    // (a detached exec's output goes nowhere: pipes nobody reads would stop it)
    const direct = req.process.terminal || !req.attach ? undefined : req.passthrough;
    await fs.mkdir(path.join(req.dir, 'exit'), { recursive: true, mode: 0o700 });
    await fs.writeFile(specPath, JSON.stringify(req.process));
    this.noteSize(req.dir, req.process.terminal ? req.process.consoleSize : undefined);
    const cp = spawnConmon(this.paths, {
      id: req.containerId, uuid: req.execId, name: req.containerId, bundle: req.dir,
      pidFile: path.join(req.dir, 'pid'), logPath: path.join(req.dir, 'log'), exitDir: path.join(req.dir, 'exit'),
      terminal: !!req.process.terminal, stdin: req.stdin, leaveStdinOpen: false,
      exec: { processSpec: specPath, attach: req.attach && !direct },
      ...(direct ? { passthrough: direct } : {}),
    });
    let stdio: StdioStream | null = null;
    try {
      if (req.attach && !direct) {
        // conmon reads the start pipe once before setting up, once more after our attach
        cp.start!.write(Buffer.from([0]));
        await cp.attachReady;
        stdio = withLogReplay(await connectAttach(path.join(req.dir, 'attach')), path.join(req.dir, 'log'));
        cp.start!.write(Buffer.from([0]));
      }
      // the text dockerd gives for a runtime that refused the exec
      const pid = await readPid(cp, 'OCI runtime exec failed', path.join(req.dir, RUNC_LOG));
      if (direct === 'pipes') stdio = PipeStdio.of(cp.pipes!);
      const exited = (async () => {
        const m = await cp.sync.next();
        cp.closePipes();
        if (m && m.data >= 0) return m.data;
        const f = await fs.readFile(path.join(req.dir, 'exit', req.containerId), 'utf8').catch(() => '');
        const code = Number.parseInt(f.trim(), 10);
        return Number.isFinite(code) ? code : 255;
      })();
      return { pid, stdio, exited };
    } catch (e) {
      (stdio ?? (direct === 'pipes' ? PipeStdio.of(cp.pipes!) : null))?.close();
      cp.closePipes();
      throw e;
    }
  }

  async watchExits(cb: ExitCallback): Promise<void> {
    this.exits = new ExitWatcher(this.exitDir, cb);
    await this.exits.start();
  }

  exitStatus(id: string): Promise<{ code: number; at: Date } | null> {
    return new ExitWatcher(this.exitDir, () => {}).read(id);
  }

  async hasState(id: string): Promise<boolean> {
    return !id.includes('/') && fs.stat(path.join(this.paths.runtimeRoot, id)).then(() => true, () => false);
  }

  /** conmon.pid names a live conmon of this container (a recycled pid names another process). */
  async monitorAlive(id: string, bundle: string): Promise<boolean> {
    const pid = await this.conmonPid(bundle);
    return pid !== null && isConmonOf(pid, id);
  }

  private async conmonPid(bundle: string): Promise<number | null> {
    const pid = Number.parseInt(await fs.readFile(path.join(bundle, 'conmon.pid'), 'utf8').catch(() => ''), 10);
    return Number.isFinite(pid) && pid > 0 ? pid : null;
  }

  close(): void {
    this.exits?.close();
  }
}

/** A winsize field: an unsigned short, as the kernel keeps it. */
function winsize(n: number): number {
  return Math.max(0, Math.min(0xffff, Math.trunc(n)));
}

/** One message on conmon's control FIFO (1: resize, 2: reopen the log files). */
async function writeCtlLine(dir: string, line: string): Promise<void> {
  let fh;
  try {
    // O_NONBLOCK: never hang if conmon is gone (ENXIO then)
    fh = await fs.open(path.join(dir, 'ctl'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch {
    throw failedPrecondition('the container has no monitor (conmon) running');
  }
  try { await fh.write(`${line}\n`); } finally { await fh.close(); }
}
