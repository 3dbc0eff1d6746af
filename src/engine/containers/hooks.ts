// What other parts of the engine do at points of a container's life, without the container
// service knowing them: networks (namespace, CNI, ports, /etc files) and volumes (named and
// anonymous volumes, copy-up, rm -v). Each hook runs under the container's lock.
import type { ImageRecord } from '../../image/types.js';
import type { Container, CreateSpec } from './model.js';

export interface CreateContext {
  spec: CreateSpec;
  image: ImageRecord;
  /** The container's root filesystem, mounted on first use (unmounted after create). */
  rootfs(): Promise<string>;
  /** Warnings for the create's answer (docker's Warnings). */
  warnings: string[];
}

export interface ContainerHooks {
  /** At create, on the resolved record before it is saved; throws to refuse the create. */
  create?(rec: Container, ctx: CreateContext): Promise<void>;
  /** A create failed after create() ran: undo what it made. */
  createFailed?(rec: Container): Promise<void>;
  /** Before the runtime creates the container at each start (a policy restart too). */
  beforeStart?(rec: Container): Promise<void>;
  /** Once it runs (peers learn of it). */
  started?(rec: Container): Promise<void>;
  /**
   * At its exit, before anyone waiting hears of it: what must be free when `docker stop`
   * returns (its published ports, as dockerd releases them first). Synchronous and cheap.
   */
  exited?(rec: Container): void;
  /** After its exit, or a start that failed after beforeStart: release what beforeStart made. */
  stopped?(rec: Container): Promise<void>;
  /**
   * After an exit, once those waiting for it heard of it (a `logs -f` has read the log to its
   * end): tidy what the container left (its log's files cut to max-file).
   */
  settled?(rec: Container): Promise<void>;
  /** After rm; `volumes`: docker's rm -v (and --rm): its anonymous volumes go too. */
  removed?(rec: Container, o: { volumes: boolean }): Promise<void>;
  /** At tsulad's start, once every record is reconciled with its runtime (before exits are watched). */
  recovered?(list: Container[]): Promise<void>;
  /** At a docker exec's create: variables it gets from this part (legacy links'); throws to refuse the exec. */
  execEnv?(rec: Container): string[];
}

/** Run one hook of each, in order (stopped and removed: in reverse, and every one even if one fails). */
export class Hooks {
  constructor(private readonly list: ContainerHooks[] = []) {}

  async create(rec: Container, ctx: CreateContext): Promise<void> {
    const done: ContainerHooks[] = [];
    try {
      for (const h of this.list) {
        done.push(h);
        await h.create?.(rec, ctx);
      }
    } catch (e) {
      for (const h of done.reverse()) await h.createFailed?.(rec).catch(() => {});
      throw e;
    }
  }

  async createFailed(rec: Container): Promise<void> {
    for (const h of [...this.list].reverse()) await h.createFailed?.(rec).catch(() => {});
  }

  async beforeStart(rec: Container): Promise<void> {
    for (const h of this.list) await h.beforeStart?.(rec);
  }

  async started(rec: Container): Promise<void> {
    for (const h of this.list) await h.started?.(rec);
  }

  exited(rec: Container): void {
    for (const h of this.list) {
      try { h.exited?.(rec); } catch { /* stopped() does it again, and says why */ }
    }
  }

  /** Every hook runs; the first error is thrown after. */
  async stopped(rec: Container): Promise<void> {
    let err: unknown;
    for (const h of [...this.list].reverse()) await h.stopped?.(rec).catch((e) => { err ??= e; });
    if (err) throw err;
  }

  /** Every hook runs; the first error is thrown after. */
  async settled(rec: Container): Promise<void> {
    let err: unknown;
    for (const h of this.list) await h.settled?.(rec).catch((e) => { err ??= e; });
    if (err) throw err;
  }

  async recovered(list: Container[]): Promise<void> {
    for (const h of this.list) await h.recovered?.(list);
  }

  execEnv(rec: Container): string[] {
    return this.list.flatMap((h) => h.execEnv?.(rec) ?? []);
  }

  async removed(rec: Container, o: { volumes: boolean }): Promise<void> {
    let err: unknown;
    for (const h of [...this.list].reverse()) await h.removed?.(rec, o).catch((e) => { err ??= e; });
    if (err) throw err;
  }
}
