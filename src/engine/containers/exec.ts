// Exec sessions (docker's two-step exec: create, then start), run by the container's runtime.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ContainerService } from './service.js';
import type { ExecHandle, StdioStream } from '../../runtime/types.js';
import type { Process, Spec } from '../../oci/types.js';
import { mergeEnv } from './create.js';
import { applyUnsets, processUser } from './spec.js';
import { running, type Container } from './model.js';
import { DEFAULT_PATH_ENV } from '../../oci/spec.js';
import { resolveCaps } from '../../oci/caps.js';
import { readHostCaps } from '../../oci/host.js';
import { errorMessage, failedPrecondition, internal, invalidArgument, notFound } from '../../common/errors.js';
import { parseDetachKeys } from '../../common/detachkeys.js';
import { foldGoKeys } from '../../common/go-json.js';
import { newId } from '../../common/ids.js';
import { readJson } from '../../common/fsutil.js';
import { dockerdStartError } from './oci-errors.js';
import { lazySchema, type Infer } from '../../common/lazy-schema.js';

export const execBodySchema = lazySchema((z) => z.object({
  Cmd: z.array(z.string()).min(1, 'No exec command specified'),
  AttachStdin: z.boolean().nullish(),
  AttachStdout: z.boolean().nullish(),
  AttachStderr: z.boolean().nullish(),
  Tty: z.boolean().nullish(),
  Env: z.array(z.string()).nullish(),
  User: z.string().nullish(),
  WorkingDir: z.string().nullish(),
  Privileged: z.boolean().nullish(),
  DetachKeys: z.string().nullish(),
  // API 1.42: the TTY's size at start, [height, width] (the API front end drops it before)
  ConsoleSize: z.array(z.number().int().nonnegative()).length(2).nullish(),
}).passthrough());

export interface ExecSession {
  ID: string;
  ContainerID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  OpenStdin: boolean;
  OpenStdout: boolean;
  OpenStderr: boolean;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user: string };
  body: Infer<typeof execBodySchema>;
  dir: string;
  started: boolean;
  /** Its legacy links' variables, made at its create. */
  linkEnv: string[];
  /** A TTY size asked for while the process was being started, applied once it runs. */
  pendingSize?: { h: number; w: number };
}

const MAX_SESSIONS = 1024;
/** How long a resize waits for an exec's start (dockerd's ContainerExecResize). */
const START_WAIT_MS = 10_000;

/**
 * dockerd makes an exec's environment anew (CreateDaemonEnvironment with the exec's own tty):
 * PATH, HOSTNAME, TERM=xterm only for `exec -t` (whatever the container's -t), its legacy
 * links' variables (made at the exec's create), then the container's env. A CRI container's
 * exec keeps its spec's, as containerd's does, with TERM=xterm set for a tty exec
 * (containerd's execInternal).
 */
function dockerBaseEnv(rec: Container, tty: boolean, linkEnv: string[]): string[] {
  const base = [DEFAULT_PATH_ENV];
  if (rec.config.hostname) base.push(`HOSTNAME=${rec.config.hostname}`);
  if (tty) base.push('TERM=xterm');
  return mergeEnv([...base, ...linkEnv], rec.config.env);
}

function podExecEnv(specEnv: string[], tty: boolean): string[] {
  return tty ? mergeEnv(specEnv, ['TERM=xterm']) : specEnv;
}

export class ExecService {
  private sessions = new Map<string, ExecSession>();

  constructor(private containers: ContainerService) {}

  async create(ref: string, raw: unknown): Promise<{ Id: string }> {
    // the schema first: from the running check on, nothing waits (a container that stops
    // meanwhile gets no session)
    const schema = await execBodySchema();
    // dockerd's postContainerExecCreate: no command is a 400 before the container is looked up;
    // Cmd is a strslice.StrSlice there (a string is a one-element list)
    const folded = foldGoKeys(raw, Object.keys(schema.shape)) as { Cmd?: unknown } | null;
    if (folded && typeof folded === 'object' && typeof folded.Cmd === 'string') folded.Cmd = [folded.Cmd];
    if (!folded || typeof folded !== 'object' || (Array.isArray(folded.Cmd) ? !folded.Cmd.length : folded.Cmd == null)) throw invalidArgument('No exec command specified');
    const rec = this.containers.get(ref);
    // dockerd names a paused container as the client named it here (its ID at start)
    if (rec.state.status === 'paused') throw failedPrecondition(`Container ${ref} is paused, unpause the container before exec`);
    this.containers.requireRunning(rec);
    const p = schema.safeParse(folded);
    if (!p.success) throw invalidArgument(`invalid exec config: ${p.error.issues[0].path.join('.')}: ${p.error.issues[0].message}`);
    const b = p.data;
    // dockerd checks the keys at create, in these words (a 500: a plain error there)
    if (b.DetachKeys) {
      try { parseDetachKeys(b.DetachKeys); } catch { throw internal(`Invalid escape keys (${b.DetachKeys}) provided`); }
    }
    if (b.User) {
      // dockerd (28's ContainerExecCreate) looks the user up at create: an unknown one is a 400 here, not a
      // failed start (exit 126) later
      const bundle = this.containers.bundle(rec.id);
      const spec = await readJson<Spec>(path.join(bundle, 'config.json'));
      const rootfs = path.isAbsolute(spec.root.path) ? spec.root.path : path.join(bundle, spec.root.path);
      await processUser(rootfs, b.User, rec.config).catch((e: unknown) => { throw invalidArgument(errorMessage(e)); });
      this.containers.requireRunning(rec); // it may have stopped meanwhile
    }
    const linkEnv = rec.config.pod ? [] : this.containers.hooks.execEnv(rec);
    const id = newId();
    this.sessions.set(id, {
      ID: id, ContainerID: rec.id, Running: false, ExitCode: null, Pid: 0,
      OpenStdin: !!b.AttachStdin, OpenStdout: !!b.AttachStdout, OpenStderr: !!b.AttachStderr,
      ProcessConfig: { tty: !!b.Tty, entrypoint: b.Cmd[0], arguments: b.Cmd.slice(1), privileged: !!b.Privileged, user: b.User || (rec.config.user ?? '') },
      body: b, dir: path.join(this.containers.bundle(rec.id), 'exec', id), started: false, linkEnv,
    });
    this.gc();
    // dockerd's ContainerExecCreate logs it (a health probe's too)
    // (LogContainerEventWithAttributes: the container's labels, as its other events carry)
    this.containers.d.events.emit('container', `exec_create: ${b.Cmd.join(' ')}`, rec.id, this.containers.attrs(rec, { execID: id }));
    return { Id: id };
  }

  get(id: string): ExecSession {
    // an id that can't be one (not hex: `/`, `..`) is as missing as an unknown one, as in dockerd
    const s = this.sessions.get(id) ?? (/^[0-9a-f]{1,64}$/.test(id) ? [...this.sessions.values()].find((x) => x.ID.startsWith(id)) : undefined);
    if (!s) throw notFound(`No such exec instance: ${id}`);
    return s;
  }

  inspect(id: string): Record<string, unknown> {
    const s = this.get(id);
    const { body: b, dir: _d, started: _s, pendingSize: _p, ProcessConfig: pc, ...pub } = s;
    // as dockerd's JSON: user is omitempty, DetachKeys the parsed bytes (base64, "" for none)
    const { user, ...rest } = pc;
    const keys = b.DetachKeys ? parseDetachKeys(b.DetachKeys).toString('base64') : '';
    return { ...pub, ProcessConfig: { ...rest, ...(user ? { user } : {}) }, CanRemove: false, DetachKeys: keys };
  }

  /**
   * Start; with attach, stdio is handed back for the API to pump. `recorded` resolves once
   * the exit is in the session (Running false, ExitCode set): a stream that ends only then
   * lets a client inspect the exec right after its end (docker exec does, once).
   * `o.holdOutput`: without a TTY the process' stdio are pipes to tsulad where the runtime
   * can (conmon's passthrough), so its output ends when the last holder closes it, a child
   * left in the background too, as through containerd's FIFOs (the caller decides how long
   * to wait: CRI until the end, the docker API 2 s); else it ends with conmon, at the exit.
   */
  async start(id: string, detach: boolean, consoleSize?: [number, number], o: { holdOutput?: boolean } = {}): Promise<{ handle: ExecHandle; session: ExecSession; recorded: Promise<number> }> {
    const s = this.get(id);
    // dockerd's words (a 409 either way)
    if (s.ExitCode !== null) throw failedPrecondition(`Error: Exec command ${s.ID} has already run`);
    if (s.started) throw failedPrecondition(`Error: Exec command ${s.ID} is already running`);
    const rec = this.containers.get(s.ContainerID);
    this.containers.requireRunning(rec);
    s.started = true;
    const b = s.body;
    // dockerd logs the start before it asks the runtime, so a command that fails has it too
    this.containers.d.events.emit('container', `exec_start: ${b.Cmd.join(' ')}`, rec.id, this.containers.attrs(rec, { execID: s.ID }));
    const bundle = this.containers.bundle(rec.id);
    let handle: ExecHandle;
    try {
      const spec = await readJson<Spec>(path.join(bundle, 'config.json'));
      const rootfs = path.isAbsolute(spec.root.path) ? spec.root.path : path.join(bundle, spec.root.path);
      let user = spec.process.user;
      // dockerd's getUser: the exec's user, with the container's --group-add groups too
      if (b.User) user = await processUser(rootfs, b.User, rec.config);
      const proc: Process = {
        ...spec.process,
        terminal: !!b.Tty,
        args: b.Cmd,
        // docker: "KEY" without "=" unsets KEY for the exec
        env: applyUnsets(mergeEnv(rec.config.pod ? podExecEnv(spec.process.env ?? [], !!b.Tty) : dockerBaseEnv(rec, !!b.Tty, s.linkEnv), b.Env ?? [])),
        cwd: b.WorkingDir || spec.process.cwd,
        user,
      };
      delete (proc as { consoleSize?: unknown }).consoleSize;
      // dockerd: the start's size, else the create's; a TTY's only
      const size = consoleSize ?? b.ConsoleSize;
      if (b.Tty && size && size[0] && size[1]) proc.consoleSize = { height: size[0], width: size[1] };
      if (b.Privileged) {
        // docker exec --privileged: every capability the host has, whatever the container's
        const caps = resolveCaps({ privileged: true }, (await readHostCaps().catch(() => undefined)));
        proc.capabilities = { bounding: caps, effective: [...caps], permitted: [...caps] };
      }
      await fs.mkdir(s.dir, { recursive: true, mode: 0o700 });
      const rt = this.containers.runtimeOf(rec);
      handle = await rt.exec({
        containerId: rec.id, execId: s.ID, dir: s.dir, process: proc,
        attach: !detach, stdin: !!b.AttachStdin,
        ...(o.holdOutput ? { holdOutput: true, ...(rt.directStdio ? { passthrough: 'pipes' as const } : {}) } : {}),
      });
    } catch (e) {
      // dockerd's codes since moby#48552 (27.3): 127 for a command not found (and a path that
      // is not a directory), 126 for one it may not run and for every other failed start
      // (20.10–24 recorded 126 for all of them: moby#45795)
      const said = dockerdStartError(e, s.ProcessConfig.entrypoint, 'exec');
      s.ExitCode = said && said.exitCode !== 128 ? said.exitCode : 126;
      await fs.rm(s.dir, { recursive: true, force: true });
      throw e;
    }
    s.Running = true;
    s.Pid = handle.pid;
    const size = s.pendingSize;
    s.pendingSize = undefined;
    if (size && s.ProcessConfig.tty) {
      await this.containers.runtimeOf(rec).resizeExec(s.dir, size.h, size.w)
        .catch((e) => this.containers.d.log.warn('resizing an exec\'s TTY after its start', { id: s.ID, err: errorMessage(e) }));
    }
    const recorded = handle.exited.then((code) => {
      s.Running = false;
      s.ExitCode = code;
      // its pid stays shown, as dockerd's (it keeps the exec's process)
      this.containers.d.events.emit('container', 'exec_die', rec.id, this.containers.attrs(rec, { execID: s.ID, exitCode: String(code) }));
      void fs.rm(s.dir, { recursive: true, force: true }).catch(() => {});
      return code;
    });
    return { handle, session: s, recorded };
  }

  /**
   * One-step exec for front ends that have no exec objects of their own (CRI): a process in
   * the running container, attached; resize it with resize(id).
   */
  async run(ref: string, o: { cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<{ id: string; handle: ExecHandle }> {
    const { Id } = await this.create(ref, { Cmd: o.cmd, Tty: o.tty, AttachStdin: o.stdin, AttachStdout: o.stdout, AttachStderr: o.stderr });
    const { handle } = await this.start(Id, false, undefined, { holdOutput: true });
    return { id: Id, handle };
  }

  async resize(id: string, h: number, w: number): Promise<void> {
    const s = this.get(id);
    // dockerd's getExecConfig: the container running, not paused or restarting (409s)
    this.containers.requireRunning(this.containers.get(s.ContainerID));
    // dockerd waits 10 s for the exec's start, then gives up (a 500)
    for (const end = Date.now() + START_WAIT_MS; !s.started;) {
      if (Date.now() > end) throw internal('timeout waiting for exec session ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    // the client resizes right after the switch of protocols, which comes before the process
    if (!s.Running && s.ExitCode === null) { s.pendingSize = { h, w }; return; }
    if (!s.Running) throw failedPrecondition(`exec ${id} is not running`);
    if (!s.ProcessConfig.tty) return;
    const rec = this.containers.get(s.ContainerID);
    await this.containers.runtimeOf(rec).resizeExec(s.dir, h, w);
  }

  /** Its client typed the detach keys: the process runs on; dockerd logs exec_detach. */
  detached(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    let rec;
    try { rec = this.containers.get(s.ContainerID); } catch { return; } // removed meanwhile
    this.containers.d.events.emit('container', 'exec_detach', rec.id, this.containers.attrs(rec, { execID: id }));
  }

  /** Forget finished sessions beyond a bound (docker keeps them until the container goes). */
  private gc(): void {
    if (this.sessions.size <= MAX_SESSIONS) return;
    for (const [id, s] of this.sessions) {
      if (this.sessions.size <= MAX_SESSIONS) break;
      if (!s.Running && s.started) this.sessions.delete(id);
    }
  }

  /**
   * docker inspect's ExecIDs: the container's execs not yet ended (created ones too), null
   * when there are none; dockerd lets go of them at an exit, its own or the container's.
   */
  pendingIds(containerId: string): string[] | null {
    const rec = this.containers.get(containerId);
    if (!running(rec.state)) return null;
    const ids = [...this.sessions.values()].filter((s) => s.ContainerID === containerId && s.ExitCode === null).map((s) => s.ID);
    return ids.length ? ids : null;
  }

  forgetContainer(containerId: string): void {
    for (const [id, s] of this.sessions) if (s.ContainerID === containerId) this.sessions.delete(id);
  }
}

export type { StdioStream };
