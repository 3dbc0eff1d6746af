// Engine events in the Docker Engine API's shape, kept in a bounded ring for --since/--until
// (moby's daemon/events: a subscriber gets past events only when it names a time window).
import { FilterArgs, matchEvent } from './api/filters.js';

export interface EngineEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: 'container' | 'image' | 'daemon' | 'volume' | 'network';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export interface EventFilter {
  /** Replay the kept events from this time on (ns since 1970, inclusive). */
  since?: bigint;
  /** Replay the kept events up to this time (inclusive). */
  until?: bigint;
  filters?: Record<string, string[]>;
}

/** `json` is the wire form (see emit). */
type Listener = (e: EngineEvent, json: string) => void;

interface Entry { e: EngineEvent; ns: bigint; json: string }

const RING = 1024;

export class EventBus {
  private ring: Entry[] = [];
  private listeners = new Set<(x: Entry) => void>();
  private lastNs = 0n;

  emit(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    // strictly increasing, so a time window never splits events that came in order
    let ns = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    if (ns <= this.lastNs) ns = this.lastNs + 1n;
    this.lastNs = ns;
    const e: EngineEvent = {
      Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local',
      time: Number(ns / 1_000_000_000n), timeNano: Number(ns),
    };
    if (type === 'container' || type === 'image') {
      e.status = action;
      e.id = id;
      if (attributes.image) e.from = attributes.image;
    }
    // on the wire as dockerd marshals events.Message: its fields in Go's order (status, id
    // and from first), the attributes by key; timeNano exact (a double cannot hold
    // nanoseconds since 1970). dockerd 29 drops status, id and from for API 1.52 requests;
    // tsulad keeps them at every version: clients that ask the server's version ("auto":
    // docker-py, Debian 12's docker-compose 1.29) read event['id'], and newer clients ignore them

    const attrs = Object.fromEntries(Object.keys(attributes).sort().map((k) => [k, attributes[k]]));
    const fields = { Type: e.Type, Action: e.Action, Actor: { ID: id, Attributes: attrs }, scope: e.scope, time: e.time, timeNano: '\0ns' };
    const wire = {
      ...(e.status !== undefined ? { status: e.status, id: e.id } : {}), ...(e.from !== undefined ? { from: e.from } : {}), ...fields,
    };
    const exact = (o: object) => JSON.stringify(o).replace('"\\u0000ns"', ns.toString());
    const x: Entry = { e, ns, json: exact(wire) };
    this.ring.push(x);
    if (this.ring.length > RING) this.ring.shift();
    for (const l of this.listeners) l(x);
  }

  /** Does e pass the filters (type, event, container, image, label)? Times are not filters. */
  static matches(e: EngineEvent, f: EventFilter): boolean {
    if (f.filters && !matchEvent(e, FilterArgs.fromRecord(f.filters))) return false;
    return true;
  }

  /**
   * The kept events in f's time window (none without since or until: a plain subscriber
   * streams only what comes), then, unless live is false, new ones until the returned
   * function is called. A live event is filtered, never timed: it is newer than any window
   * start, and the caller ends the stream at `until`.
   */
  subscribe(f: EventFilter, cb: Listener, live = true): () => void {
    if (f.since !== undefined || f.until !== undefined) {
      for (const x of this.ring) {
        if (f.since !== undefined && x.ns < f.since) continue;
        if (f.until !== undefined && x.ns > f.until) continue;
        if (EventBus.matches(x.e, f)) cb(x.e, x.json);
      }
    }
    if (!live) return () => {};
    const l = (x: Entry) => { if (EventBus.matches(x.e, f)) cb(x.e, x.json); };
    this.listeners.add(l);
    return () => { this.listeners.delete(l); };
  }
}
