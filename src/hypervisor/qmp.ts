// A small QMP client (QEMU's JSON control protocol on the VM's qmp socket): the greeting,
// qmp_capabilities, then one command at a time with its answer matched by id. Events are
// kept for waiters (a migration's end). Used to save and restore VM templates and hot-plug
// a clone's devices; nothing else of QMP is needed.
import * as net from 'node:net';
import { unavailable, errorMessage } from '../common/errors.js';
import { onLines } from '../common/lines.js';

export interface QmpEvent { event: string; data?: Record<string, unknown> }

export class QmpClient {
  private seq = 0;
  private pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; cmd: string }>();
  private events: QmpEvent[] = [];
  private eventWaiters: Array<() => void> = [];
  private closedWhy: string | null = null;

  private constructor(private readonly sock: net.Socket, private readonly what: string) {
    onLines(sock, (line) => this.onLine(line));
    sock.on('error', (e) => this.fail(errorMessage(e)));
    sock.on('close', () => this.fail('connection closed'));
  }

  /** Connect (retrying while QEMU has not listened yet, up to timeoutMs) and negotiate. */
  static async connect(file: string, what: string, timeoutMs = 10_000): Promise<QmpClient> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await new Promise<net.Socket | Error>((resolve) => {
        const c = net.connect(file);
        c.once('connect', () => { c.removeAllListeners('error'); resolve(c); });
        c.once('error', (e) => resolve(e));
      });
      if (s instanceof net.Socket) {
        const q = new QmpClient(s, what);
        try {
          await q.greeting(Math.max(end - Date.now(), 1000));
          await q.execute('qmp_capabilities');
        } catch (e) {
          // QEMU serves one QMP client at a time: a connection left in its backlog would
          // take the monitor once the other client goes, and keep it
          s.destroy();
          throw e;
        }
        return q;
      }
      if (Date.now() > end) throw unavailable(`${what}: cannot connect to QMP at ${file}: ${errorMessage(s)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private greetingSeen: (() => void) | null = null;
  private greeted = false;

  private greeting(timeoutMs: number): Promise<void> {
    if (this.greeted) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(unavailable(`${this.what}: no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
      this.greetingSeen = () => { clearTimeout(t); resolve(); };
    });
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try { msg = JSON.parse(line) as Record<string, unknown>; } catch { return; }
    if ('QMP' in msg) { this.greeted = true; this.greetingSeen?.(); return; }
    if ('event' in msg) {
      this.events.push(msg as unknown as QmpEvent);
      for (const w of this.eventWaiters.splice(0)) w();
      return;
    }
    const id = String(msg.id ?? '');
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if ('error' in msg) {
      const e = msg.error as { class?: string; desc?: string };
      p.reject(unavailable(`${this.what}: QMP ${p.cmd}: ${e.desc ?? e.class ?? 'error'}`));
    } else p.resolve(msg.return);
  }

  private fail(why: string): void {
    if (this.closedWhy) return;
    this.closedWhy = why;
    for (const p of this.pending.values()) p.reject(unavailable(`${this.what}: QMP ${p.cmd}: ${why}`));
    this.pending.clear();
    for (const w of this.eventWaiters.splice(0)) w();
  }

  /** Run one command; its `return` value, or a TsulaError with QEMU's description. */
  execute<T = unknown>(cmd: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.closedWhy) return Promise.reject(unavailable(`${this.what}: QMP ${cmd}: ${this.closedWhy}`));
    const id = `t${++this.seq}`;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(unavailable(`${this.what}: QMP ${cmd}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        cmd,
        resolve: (v) => { clearTimeout(t); resolve(v as T); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
      this.sock.write(JSON.stringify({ execute: cmd, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  /** Wait for an event matching `pred` (seen already or to come), up to timeoutMs. */
  async waitEvent(pred: (e: QmpEvent) => boolean, timeoutMs: number, what: string): Promise<QmpEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      if (this.closedWhy) throw unavailable(`${this.what}: waiting for ${what}: ${this.closedWhy}`);
      const left = end - Date.now();
      if (left <= 0) throw unavailable(`${this.what}: ${what} did not happen within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.eventWaiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  /** Poll query-migrate until the migration completes (or fails), up to timeoutMs. */
  async waitMigration(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
      if (r.status === 'completed') return;
      if (r.status === 'failed' || r.status === 'cancelled') {
        throw unavailable(`${this.what}: migration ${r.status}${r['error-desc'] ? `: ${r['error-desc']}` : ''}`);
      }
      if (Date.now() > end) throw unavailable(`${this.what}: migration still ${r.status ?? 'unknown'} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  close(): void {
    this.closedWhy ??= 'closed';
    this.sock.destroy();
  }
}
