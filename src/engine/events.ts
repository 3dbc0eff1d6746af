// Engine events in the Docker Engine API's shape, kept in a bounded ring for --since.
import { FilterArgs, matchEvent } from './api/filters.js';

export interface EngineEvent {
  status?: string;
  id?: string;
  from?: string;
  Type: 'container' | 'image' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export interface EventFilter {
  since?: number;   // unix seconds
  until?: number;
  filters?: Record<string, string[]>;
}

type Listener = (e: EngineEvent) => void;

const RING = 1024;

export class EventBus {
  private ring: EngineEvent[] = [];
  private listeners = new Set<Listener>();

  emit(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
    const e: EngineEvent = {
      Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local',
      time: Number(nowNs / 1_000_000_000n), timeNano: Number(nowNs),
    };
    if (type === 'container' || type === 'image') {
      e.status = action;
      e.id = id;
      if (attributes.image) e.from = attributes.image;
    }
    this.ring.push(e);
    if (this.ring.length > RING) this.ring.shift();
    for (const l of this.listeners) l(e);
  }

  static matches(e: EngineEvent, f: EventFilter): boolean {
    if (f.since !== undefined && e.time < f.since) return false;
    if (f.until !== undefined && e.time > f.until) return false;
    if (f.filters && !matchEvent(e, FilterArgs.fromRecord(f.filters))) return false;
    return true;
  }

  /** Past events matching f, then live ones until the returned function is called. */
  subscribe(f: EventFilter, cb: Listener): () => void {
    for (const e of this.ring) if (EventBus.matches(e, f)) cb(e);
    const l: Listener = (e) => { if (EventBus.matches(e, f)) cb(e); };
    this.listeners.add(l);
    return () => { this.listeners.delete(l); };
  }
}
