// The service's attach, resize and log reopen (service.ts delegates): streams of a running
// container now, of a created or exited one at its next start.
import { setTimeout as delay } from 'node:timers/promises';
import { promises as fs } from 'node:fs';
import { failedPrecondition, errorMessage, unimplemented } from '../../common/errors.js';
import type { Runtime, StdioStream } from '../../runtime/types.js';
import { shareStdio } from '../../runtime/shared-stdio.js';
import { withLogReplay } from '../../runtime/log-replay.js';
import { running, type Container } from './model.js';
import type { ContainerService } from './service.js';

/** How long an attach that found the process gone waits for its exit to be recorded. */
const EXIT_RECORD_MS = 2_000;

/**
 * dockerd's refusals, made before the API switches protocols so that they are still HTTP
 * errors: a paused or restarting container can't be attached to (409).
 */
export function checkAttach(s: ContainerService, ref: string): Container {
  const rec = s.get(ref);
  if (rec.state.status === 'paused') throw failedPrecondition(`container ${ref} is paused, unpause the container before attach`);
  if (rec.state.status === 'restarting') throw failedPrecondition(`container ${ref} is restarting, wait until the container is running`);
  return rec;
}

/**
 * Attach to a container's stdio: now if it runs; at its next start if it is created or
 * exited (docker's `start -a` attaches first, then starts); null once that can't happen
 * (removed, its start failed, `signal` aborted: the client left) or it is being removed.
 */
export async function attach(s: ContainerService, ref: string, signal?: AbortSignal): Promise<StdioStream | null> {
  const rec = s.get(ref);
  if (signal?.aborted) return null;
  if (running(rec.state)) {
    let st: StdioStream;
    try {
      st = await s.runtimeOf(rec).attach(rec.id, s.bundle(rec.id));
    } catch (e) {
      // its process is gone, its exit not recorded yet (compose starts, then attaches): the
      // stream ends with that exit, as dockerd's attach to the streams of a run that ends
      if (running(rec.state)) await Promise.race([s.wait(rec.id, 'not-running').catch(() => 0), delay(EXIT_RECORD_MS, undefined, { signal }).catch(() => undefined)]);
      if (running(rec.state) && s.d.store.has(rec.id) && !signal?.aborted) throw e;
      return null;
    }
    s.d.events.emit('container', 'attach', rec.id, s.attrs(rec));
    return st;
  }
  if (rec.state.status !== 'created' && rec.state.status !== 'exited') return null;
  // dockerd logs the attach when the streams are registered, before any start
  s.d.events.emit('container', 'attach', rec.id, s.attrs(rec));
  return s.pendingAttach.add(rec.id, signal);
}

/** The clients waiting for this start: one runtime connection, shared (shared-stdio.ts says why). */
export async function connectPendingAttach(s: ContainerService, rec: Container, rt: Runtime, bundle: string): Promise<void> {
  const pending = s.pendingAttach.take(rec.id);
  if (!pending.length) return;
  let st: StdioStream;
  try {
    // where this run's records will start in the log: what conmon may fail to pass on
    // (log-replay.ts) is replayed from there
    const logFrom = rec.config.logDriver === 'none' ? null : await fs.stat(rec.paths.log).then((x) => x.size, () => 0);
    st = await rt.attach(rec.id, bundle);
    if (logFrom !== null) st = withLogReplay(st, rec.paths.log, logFrom);
  } catch (e) {
    s.d.log.warn('attach at start failed', { id: rec.id, err: errorMessage(e) });
    for (const p of pending) p.resolve(null);
    return;
  }
  const views = shareStdio(st, pending.length);
  // a client may have left while the runtime connected: nobody reads its view
  pending.forEach((p, i) => { if (p.signal?.aborted) views[i]!.close(); else p.resolve(views[i]!); });
}

export async function resize(s: ContainerService, ref: string, h: number, w: number): Promise<void> {
  const rec = s.get(ref);
  // dockerd's ContainerResize: errNotRunning(container.ID)
  if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
  if (rec.config.tty) await s.runtimeOf(rec).resize(rec.id, s.bundle(rec.id), h, w);
  // dockerd logs each resize (an exec's not); SIGWINCH forwarded by a client's signal proxy is a kill
  s.d.events.emit('container', 'resize', rec.id, s.attrs(rec, { height: String(h), width: String(w) }));
}

/** CRI's ReopenContainerLog: the runtime writes to a new log file at the same path. */
export async function reopenLog(s: ContainerService, ref: string): Promise<void> {
  const rec = s.get(ref);
  if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
  const rt = s.runtimeOf(rec);
  if (!rt.reopenLog) throw unimplemented(`runtime ${rec.runtime} cannot reopen container logs`);
  await rt.reopenLog(rec.id, s.bundle(rec.id));
}


