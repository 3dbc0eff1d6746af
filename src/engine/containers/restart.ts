// Restart policies (docker's restartmanager): after an exit, `always` restarts, `unless-stopped`
// restarts unless the user stopped it, `on-failure[:N]` restarts on a non-zero code (at most N
// times). The delay doubles from 100 ms up to a minute and starts again at 100 ms once a run
// lasted 10 s. A stop or kill disarms the next restart (docker's ExitOnNext). At tsulad's
// start, containers whose policy says so and that ran before are started again.
import { errorMessage, invalidArgument } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { running, type Container } from './model.js';
import { sleep } from './service-stop.js';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;

/**
 * moby's ValidateRestartPolicy (dockerd 25+'s words), with its AutoRemove check first. `given`:
 * the Name as sent, '' being "no" with any count (kept for clients older than 25, as dockerd).
 */
export function checkRestartPolicy(given: string, maxRetries: number, autoRemove: boolean): void {
  if (autoRemove && given !== '' && given !== 'no') throw invalidArgument('can\'t create \'AutoRemove\' container with restart policy');
  switch (given) {
    case '':
      return;
    case 'no': case 'always': case 'unless-stopped':
      if (maxRetries !== 0) throw invalidArgument(`invalid restart policy: maximum retry count can only be used with 'on-failure'${maxRetries < 0 ? ' and cannot be negative' : ''}`);
      return;
    case 'on-failure':
      if (maxRetries < 0) throw invalidArgument('invalid restart policy: maximum retry count cannot be negative');
      return;
    default:
      throw invalidArgument(`invalid restart policy: unknown policy '${given}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
}

/** Would this exit be followed by a restart (the count not yet raised)? */
export function policyRestarts(c: Container): boolean {
  const p = c.config.restartPolicy;
  if (!p || p.name === 'no') return false;
  if (p.name === 'always') return true;
  if (p.name === 'unless-stopped') return !c.state.manuallyStopped;
  return c.state.exitCode !== 0 && (p.maxRetries === 0 || c.state.restartCount < p.maxRetries);
}

export interface RestartTarget {
  /** Start it again by policy (under its lock; the count is raised already). */
  restartByPolicy(id: string): Promise<void>;
  /** Start it as `docker start` does (tsulad's start-up). */
  start(id: string): Promise<unknown>;
  /** Does it run now (a container gone counts as up: nothing to wait for)? */
  isRunning?(id: string): boolean;
  log: Logger;
}

/** How long a container waits at start-up for the containers it links to (dockerd's restore: 5 s). */
const BOOT_CHILD_WAIT_MS = 5000;


/** The containers c's legacy links name. */
const linkedIds = (c: Container): string[] => (c.config.networking?.legacyLinks ?? []).filter((l) => !l.gone).map((l) => l.child);

export class RestartManager {
  private timers = new Map<string, NodeJS.Timeout>();
  private delays = new Map<string, number>();
  /** Stopped or killed by the user: its next exit is not followed by a restart. */
  private disarmed = new Set<string>();
  private closed = false;
  /** When this tsulad began: an exit before it happened while no tsulad ran. */
  private readonly bootAt = Date.now();

  constructor(private readonly t: RestartTarget) {}

  /** docker's ExitOnNext. */
  disarm(id: string): void {
    this.disarmed.add(id);
    this.cancel(id);
  }

  /** A start by the user: a fresh policy (delays from the start). */
  reset(id: string): void {
    this.cancel(id);
    this.disarmed.delete(id);
    this.delays.delete(id);
  }

  /** Drop a pending restart; true if there was one. */
  cancel(id: string): boolean {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    return this.timers.delete(id);
  }

  forget(id: string): void {
    this.reset(id);
  }

  /**
   * After an exit is recorded: 'policy' when a restart is scheduled (the caller marks the
   * container "restarting" and counts it); 'boot' for an exit that happened while tsulad was
   * down, restarted at once with its count reset, as dockerd's restore starts such a container
   * (containerStart with resetRestartManager); false for none.
   */
  exited(c: Container): 'policy' | 'boot' | false {
    if (this.closed || this.disarmed.delete(c.id) || !policyRestarts(c)) {
      this.delays.delete(c.id);
      return false;
    }
    const before = Date.parse(c.state.finishedAt) < this.bootAt;
    const ran = Date.parse(c.state.finishedAt) - Date.parse(c.state.startedAt);
    const prev = ran >= RESET_AFTER_MS ? 0 : this.delays.get(c.id) ?? 0;
    const delay = before ? 0 : prev === 0 ? FIRST_DELAY_MS : Math.min(prev * 2, MAX_DELAY_MS);
    this.delays.set(c.id, delay);
    this.cancel(c.id);
    // one that died while tsulad was down waits for the containers it links to, as boot() does
    const children = before ? linkedIds(c) : [];
    this.timers.set(c.id, setTimeout(() => {
      this.timers.delete(c.id);
      void this.childrenUp(children).then(() => this.t.restartByPolicy(c.id))
        .catch((e) => this.t.log.warn('restart by policy failed', { id: c.id, err: errorMessage(e) }));
    }, delay).unref());
    return before ? 'boot' : 'policy';
  }

  /** tsulad's start: containers whose policy restarts them, and that were started before. */
  boot(list: Container[]): void {
    const due = list.filter((c) => !running(c.state) && c.state.startedAt && !c.config.autoRemove && policyRestarts(c));
    const starting = new Set(due.map((c) => c.id));
    for (const c of due) {
      // a container with legacy links starts once the ones it links to that start now run
      // (dockerd's restore waits for its children, up to 5 s): its start would fail before
      const children = linkedIds(c).filter((id) => id !== c.id && starting.has(id));
      void this.childrenUp(children).then(() => {
        this.t.log.info('starting a container by its restart policy', { id: c.id, policy: c.config.restartPolicy?.name });
        return this.t.start(c.id);
      }).catch((e) => this.t.log.warn('restart at start-up failed', { id: c.id, err: errorMessage(e) }));
    }
  }

  /** Until these run (or BOOT_CHILD_WAIT_MS went by). */
  private async childrenUp(ids: string[]): Promise<void> {
    const up = this.t.isRunning;
    if (!ids.length || !up) return;
    for (const end = Date.now() + BOOT_CHILD_WAIT_MS; Date.now() < end && !ids.every((id) => up(id));) await sleep(100);
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.timers.keys()]) this.cancel(id);
  }
}
