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

/** A client waiting for a start; its signal aborts when the client leaves. */
export interface PendingAttach { resolve: (s: StdioStream | null) => void; signal?: AbortSignal }

/** Clients attached to a created container: connected to its stdio at start, null if none comes. */
export class PendingAttaches {
  private byId = new Map<string, PendingAttach[]>();

  /** Wait for the container's start; a client that leaves (signal) gets null at once and is forgotten. */
  add(id: string, signal?: AbortSignal): Promise<StdioStream | null> {
    return new Promise((resolve) => {
      const entry: PendingAttach = {
        signal,
        resolve: (st) => { signal?.removeEventListener('abort', onAbort); resolve(st); },
      };
      const onAbort = () => {
        const left = this.byId.get(id)?.filter((x) => x !== entry) ?? [];
        if (left.length) this.byId.set(id, left); else this.byId.delete(id);
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const list = this.byId.get(id) ?? [];
      list.push(entry);
      this.byId.set(id, list);
    });
  }

  /** Take the waiting clients of id that are still there (at start, to connect them). */
  take(id: string): PendingAttach[] {
    const list = this.byId.get(id) ?? [];
    this.byId.delete(id);
    return list.filter((p) => !p.signal?.aborted);
  }

  fail(id: string): void {
    for (const p of this.take(id)) p.resolve(null);
  }
}
