// Every sandbox the sandboxer owns: JSON records under <state>/sandboxes/<id>.json (written
// atomically), the kind that runs each, and exit watching. The records are the truth after
// a restart: recover() re-adopts live sandboxes and marks the others stopped.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic, readJson } from '../common/fsutil.js';
import { alreadyExists, errorMessage, failedPrecondition, invalidArgument, notFound } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { NO_FAULTS, type Faults } from '../common/faults.js';
import { KINDS, type KindDeps, type SandboxKind, type SandboxRecord } from './kinds/index.js';
import type { Runtime } from '../runtime/types.js';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** The holder of a runc sandbox has no exit notification we can wait on: poll its pid. */
const POLL_MS = 1000;

export interface CreateSandbox {
  id: string;
  kind: string;
  netnsPath: string;
  /** The pod uses the host's network (a kind may refuse that). */
  hostNetwork?: boolean;
  annotations: Record<string, string>;
}

export class Sandboxes {
  private recs = new Map<string, SandboxRecord>();
  private kinds = new Map<string, SandboxKind>();
  private waiters = new Map<string, Array<() => void>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly dir: string;

  constructor(private readonly deps: KindDeps, private readonly log?: Logger, private readonly faults: Faults = NO_FAULTS) {
    this.dir = path.join(deps.stateDir, 'sandboxes');
    for (const [name, make] of Object.entries(KINDS)) this.kinds.set(name, make(deps));
  }

  /** Each kind's work ahead of any sandbox (SandboxKind.prepare), in the background; failures are logged. */
  prepareKinds(): void {
    for (const [name, k] of this.kinds) {
      void k.prepare?.().catch((e: unknown) => this.log?.warn('a sandbox kind could not prepare', { kind: name, err: errorMessage(e) }));
    }
  }

  private kind(name: string): SandboxKind {
    const k = this.kinds.get(name);
    if (!k) throw invalidArgument(`unknown sandbox kind "${name}" (have: ${[...this.kinds.keys()].join(', ')})`);
    return k;
  }

  get(id: string): SandboxRecord {
    const r = this.recs.get(id);
    if (!r) throw notFound(`sandbox ${id} not found`);
    return r;
  }

  find(id: string): SandboxRecord | undefined {
    return this.recs.get(id);
  }

  /** Every record, whatever its state. */
  list(): SandboxRecord[] {
    return [...this.recs.values()];
  }

  private async save(r: SandboxRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.dir, `${r.id}.json`), r);
  }

  async recover(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const r = await readJson<SandboxRecord>(path.join(this.dir, name)).catch(() => null);
      if (!r) continue;
      this.recs.set(r.id, r);
      if (r.state === 'ready' && !(await this.kind(r.kind).alive(r))) await this.died(r, 255);
      // a start cut short by our death may have left a half-made holder (a booting VM): what
      // it made goes, and so does the record, as after a Start that failed
      if (r.state === 'created' && r.startingAt) await this.discardFailed(r, 'its start was cut short by a sandboxer restart');
    }
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  async create(c: CreateSandbox): Promise<SandboxRecord> {
    if (!ID_RE.test(c.id)) throw invalidArgument(`invalid sandbox id "${c.id}"`);
    if (this.recs.has(c.id)) throw alreadyExists(`sandbox ${c.id} already exists`);
    this.kind(c.kind).validate?.({ id: c.id, netnsPath: c.netnsPath, hostNetwork: !!c.hostNetwork, annotations: c.annotations });
    const r: SandboxRecord = {
      id: c.id, kind: c.kind, createdAt: new Date().toISOString(), netnsPath: c.netnsPath,
      annotations: c.annotations, state: 'created', pid: 0, kindState: {},
    };
    this.recs.set(r.id, r);
    await this.save(r);
    return r;
  }

  async start(id: string): Promise<SandboxRecord> {
    const r = this.get(id);
    if (r.state === 'ready') return r;
    if (r.state === 'stopped') throw failedPrecondition(`sandbox ${id} is stopped`);
    if (r.startingAt) throw failedPrecondition(`sandbox ${id} is starting already`);
    r.startingAt = new Date().toISOString();
    let started;
    try {
      await this.save(r);
      started = await this.kind(r.kind).start(r, path.join(this.deps.stateDir, 'sandboxes'));
      this.faults.hit('sandbox:after-start');
    } catch (e) {
      // a failed start leaves nothing: no VM dir, virtiofsd, mount, nor a record that lists
      // a sandbox that never ran (the client's Shutdown then finds it gone: NOT_FOUND)
      await this.discardFailed(r, (e as Error).message.split('\n')[0]);
      throw e;
    }
    r.pid = started.pid;
    r.kindState = started.kindState;
    if (started.machine) r.machine = started.machine;
    r.state = 'ready';
    delete r.startingAt;
    await this.save(r);
    return r;
  }

  /** A sandbox whose start failed: its kind cleans what the start made; the record goes. */
  private async discardFailed(r: SandboxRecord, why: string): Promise<void> {
    this.log?.warn('sandbox start failed: removing it', { id: r.id, why });
    await this.kind(r.kind).stop(r, 0).catch((e: Error) => this.log?.warn('cannot clean an unfinished sandbox', { id: r.id, err: e.message }));
    this.recs.delete(r.id);
    await fs.rm(path.join(this.dir, `${r.id}.json`), { force: true });
    for (const w of this.waiters.get(r.id) ?? []) w();
    this.waiters.delete(r.id);
  }

  async stop(id: string, timeoutSecs: number): Promise<void> {
    const r = this.get(id);
    if (r.state !== 'ready') return;
    await this.kind(r.kind).stop(r, timeoutSecs);
    await this.markStopped(r, 137);
  }

  /** Resolves when the sandbox stopped. */
  wait(id: string, signal?: AbortSignal): Promise<SandboxRecord> {
    const r = this.get(id);
    if (r.state === 'stopped') return Promise.resolve(r);
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      const done = () => resolve(this.recs.get(id) ?? r);
      list.push(done);
      this.waiters.set(id, list);
      signal?.addEventListener('abort', () => {
        const l = this.waiters.get(id);
        if (l) this.waiters.set(id, l.filter((f) => f !== done));
      }, { once: true });
    });
  }

  async remove(id: string): Promise<void> {
    const r = this.get(id);
    if (r.state === 'ready') throw failedPrecondition(`sandbox ${id} is running: stop it first`);
    this.recs.delete(id);
    await fs.rm(path.join(this.dir, `${id}.json`), { force: true });
  }

  joinSpec(id: string, spec: Parameters<SandboxKind['joinSpec']>[1]): void {
    const r = this.get(id);
    if (r.state !== 'ready') throw failedPrecondition(`sandbox ${id} is not ready`);
    this.kind(r.kind).joinSpec(r, spec);
  }

  /**
   * A sandbox made for one task alone (containerd: `ctr run --annotation
   * io.tsula.sandbox-kind=vmm`), started; its id is the task's unless that is taken.
   */
  async createFor(taskId: string, kind: string, annotations: Record<string, string>, net: { netnsPath: string; hostNetwork: boolean } = { netnsPath: '', hostNetwork: false }): Promise<string> {
    const id = this.recs.has(taskId) ? `${taskId}-${Date.now().toString(36)}` : taskId;
    await this.create({ id, kind, netnsPath: net.netnsPath, hostNetwork: net.hostNetwork, annotations });
    await this.start(id); // a failed start removes the sandbox
    return id;
  }

  /** Stop and forget a sandbox (its task is gone); failures are logged, not thrown. */
  async discard(id: string): Promise<void> {
    await this.stop(id, 5).catch((e: Error) => this.log?.warn('cannot stop a sandbox', { id, err: e.message }));
    await this.remove(id).catch(() => {});
  }

  /** The runtime of the sandbox's kind, or null when its containers run on the host's. */
  async runtimeFor(id: string): Promise<Runtime | null> {
    const r = this.get(id);
    const k = this.kind(r.kind);
    if (!k.runtime) return null;
    if (r.state !== 'ready') throw failedPrecondition(`sandbox ${id} is ${r.state}`);
    return k.runtime(r);
  }

  /** Does the sandbox run its containers somewhere else than the host (no joinSpec)? */
  hasOwnRuntime(id: string): boolean {
    const r = this.find(id);
    return !!r && !!this.kind(r.kind).runtime;
  }

  /** The holder died on its own: what it leaves (a VM's virtiofsd, mounts) goes too. */
  private async died(r: SandboxRecord, code: number): Promise<void> {
    await this.kind(r.kind).stop(r, 0).catch((e: Error) => this.log?.warn('cannot clean up a dead sandbox', { id: r.id, err: e.message }));
    await this.markStopped(r, code);
  }

  private async markStopped(r: SandboxRecord, code: number): Promise<void> {
    r.state = 'stopped';
    r.exitStatus ??= code;
    r.exitedAt ??= new Date().toISOString();
    await this.save(r).catch((e: Error) => this.log?.warn('cannot save sandbox record', { id: r.id, err: e.message }));
    for (const w of this.waiters.get(r.id) ?? []) w();
    this.waiters.delete(r.id);
  }

  private async poll(): Promise<void> {
    for (const r of this.recs.values()) {
      if (r.state === 'ready' && !(await this.kind(r.kind).alive(r))) {
        this.log?.info('sandbox holder exited', { id: r.id });
        await this.died(r, 137);
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.kinds.values()].map((k) => k.close?.()));
  }
}
