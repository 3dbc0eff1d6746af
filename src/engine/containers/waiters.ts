// Who waits on a container, kept in memory only: callers of wait (the API's wait, an attach
// stream's end, stop, rm) and clients that attached to a created container before its start.
import type { StdioStream } from '../../runtime/types.js';

export type WaitCondition = 'next-exit' | 'not-running' | 'removed';

type Waiter = { cond: WaitCondition; resolve: (code: number) => void };

export class ExitWaiters {
  private byId = new Map<string, Waiter[]>();

  add(id: string, cond: WaitCondition): Promise<number> {
    return new Promise((resolve) => {
      const list = this.byId.get(id) ?? [];
      list.push({ cond, resolve });
      this.byId.set(id, list);
    });
  }

  /** Answer the waiters of id whose condition is among conds. */
  wake(id: string, conds: WaitCondition[], code: number): void {
    const list = this.byId.get(id) ?? [];
    const keep: Waiter[] = [];
    for (const w of list) (conds.includes(w.cond) ? w.resolve(code) : keep.push(w));
    if (keep.length) this.byId.set(id, keep); else this.byId.delete(id);
  }
}

type AttachCb = (s: StdioStream | null) => void;

/** Clients attached to a created container: connected to its stdio at start, null if none comes. */
export class PendingAttaches {
  private byId = new Map<string, AttachCb[]>();

  add(id: string): Promise<StdioStream | null> {
    return new Promise((resolve) => {
      const list = this.byId.get(id) ?? [];
      list.push(resolve);
      this.byId.set(id, list);
    });
  }

  /** Take the waiting clients of id (at start, to connect them). */
  take(id: string): AttachCb[] {
    const list = this.byId.get(id) ?? [];
    this.byId.delete(id);
    return list;
  }

  fail(id: string): void {
    for (const resolve of this.take(id)) resolve(null);
  }
}
