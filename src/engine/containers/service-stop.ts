// The service's kill, stop and restart (service.ts delegates), with docker's restart-policy
// rules and iSulad-style pods, whose sandbox container stops last.
import { deadlineExceeded, errorMessage, failedPrecondition, unavailable } from '../../common/errors.js';
import { isEnginePodSandbox, podIdOf } from '../../common/pod-annotations.js';
import { running, type Container } from './model.js';
import { parseKillSignal, parseSignal, signalNumber, stopSignalOf } from './signals.js';
import type { ContainerService } from './service.js';
import { monitorDied } from './monitors.js';

/**
 * docker kill. As dockerd's: SIGKILL (the default) returns once the container has stopped
 * (`docker kill c && docker rm c` must work): 10 s for its exit, then every process of it
 * is killed and 2 s more; the stop signal (or any signal, when the container has no stop
 * signal of its own) ends a pause, so that a paused container dies of it.
 */
export async function kill(s: ContainerService, ref: string, signal = 'SIGKILL'): Promise<void> {
  const rec = s.get(ref);
  const sig = parseKillSignal(signal);
  if (!running(rec.state)) throw failedPrecondition(`Cannot kill container: ${ref}: Container ${rec.id} is not running`);
  // docker: a kill is a stop by the user; with the stop signal (or SIGKILL) no restart follows
  await markManuallyStopped(s, rec);
  const stopSig = rec.config.stopSignal ? stopSignalOf(rec.config.stopSignal) : undefined;
  const ending = !stopSig || sig === 'SIGKILL' || sig === stopSig;
  if (ending) s.restarts.disarm(rec.id);
  if (await endRestarting(s, rec)) return;
  const rt = s.runtimeOf(rec);
  const exited = sig === 'SIGKILL' ? s.wait(rec.id, 'not-running') : null;
  const attrs = s.attrs(rec, { signal: String(signalNumber(sig)) });
  await rt.kill(rec.id, sig).catch((e: unknown) => {
    // it exited meanwhile (a stop or another kill won the race): dockerd's errNotRunning
    // (its exit may not be recorded yet: the runtime says so first)
    const gone = !running(rec.state) || rec.state.status === 'restarting' || /not running|already finished|no such process/i.test(errorMessage(e));
    if (gone) throw failedPrecondition(`Cannot kill container: ${ref}: Container ${rec.id} is not running`);
    throw e;
  });
  // dockerd logs it once the signal is sent, before the exit it may cause is handled (its
  // container lock holds the die back): ours goes before the resume that delivers it
  s.d.events.emit('container', 'kill', rec.id, attrs);
  // the signal is delivered once the cgroup thaws
  if (ending && rec.state.status === 'paused') await rt.resume(rec.id).catch(() => { /* it exited meanwhile */ });
  if (!exited || await within(exited, KILL_WAIT_MS)) return;
  await rt.kill(rec.id, 'SIGKILL', true).catch(() => {});
  if (!(await within(exited, KILL_AGAIN_WAIT_MS)) && !(await monitorDied(s, rec))) {
    throw unavailable(`Cannot kill container: ${ref}: tried to kill container ${rec.id}, but did not receive an exit event`);
  }
}

const KILL_WAIT_MS = 10_000;
const KILL_AGAIN_WAIT_MS = 2_000;

/** Did `p` settle within `ms`? (sleep's timer is unref'd: one left running holds nothing up) */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true, () => true), sleep(ms).then(() => false)]);
}

/**
 * The containers of an iSulad-style pod whose sandbox container this is
 * (io.kubernetes.docker.type=podsandbox; members name it in io.kubernetes.sandbox.id, by id
 * or a unique prefix of one, as the seed guides pass `tsula run -d`'s output).
 */
export function podMembers(s: ContainerService, rec: Container): Container[] {
  if (!isEnginePodSandbox(rec.config.annotations)) return [];
  return s.d.store.list().filter((c) => {
    const pod = podIdOf(c.config.annotations);
    return c.id !== rec.id && pod.length >= 12 && rec.id.startsWith(pod);
  });
}

/**
 * A stop or kill by the user: no policy restart follows, not even after tsulad's own
 * restart, so the mark is on disk before the signal (the exit's record may come too late).
 */
export async function markManuallyStopped(s: ContainerService, rec: Container): Promise<void> {
  if (rec.state.manuallyStopped) return;
  rec.state.manuallyStopped = true;
  if ((rec.config.restartPolicy?.name ?? 'no') !== 'no') await s.d.store.persist(rec);
}

/** Docker's stop: the stop signal, then SIGKILL after `timeout` seconds. */
export async function stop(s: ContainerService, ref: string, timeout?: number, signal?: string, abort?: AbortSignal): Promise<'stopped' | 'already'> {
  const rec = s.get(ref);
  // the caller's signal (API 1.42's stop and restart ?signal=) is checked before anything stops
  const callerSig = signal ? parseSignal(signal) : undefined;
  // a pod's sandbox container stops last, as a pod would, within the same grace period (the
  // pod gets -t once, as StopPodSandbox gives it, not once for its members and once more)
  const t0 = Date.now();
  const members = podMembers(s, rec);
  await Promise.all(members.map((m) => s.stop(m.id, timeout)));
  if (!running(rec.state)) return 'already';
  await markManuallyStopped(s, rec);
  s.restarts.disarm(rec.id);
  if (await endRestarting(s, rec)) {
    s.d.events.emit('container', 'stop', rec.id, s.attrs(rec));
    return 'stopped';
  }
  const rt = s.runtimeOf(rec);
  const exited = s.wait(rec.id, 'not-running');
  const sig = callerSig ?? stopSignalOf(rec.config.stopSignal);
  // dockerd: the caller's -t, else the container's StopTimeout, else 10; negative waits forever
  const full = timeout ?? rec.config.stopTimeout ?? 10;
  const t = members.length && full >= 0 ? Math.max(0, full - (Date.now() - t0) / 1000) : full;
  // each signal is a `kill` event, as dockerd's stop logs them (15, then 9 at the timeout);
  // logged as it goes, so that it comes before the exit's `die`
  const killing = (signal: string) => s.d.events.emit('container', 'kill', rec.id, s.attrs(rec, { signal: String(signalNumber(signal)) }));
  killing(sig);
  // a stop signal that could not be sent: 2 s for an exit under way, then SIGKILL (dockerd's containerStop)
  const sent = await rt.kill(rec.id, sig).then(() => true, () => false);
  if (rec.state.status === 'paused') await rt.resume(rec.id).catch(() => {});
  const wait = sent ? t : Math.min(t < 0 ? 2 : t, 2);
  // a caller that gives up (CRI's cancelled StopContainer) ends the wait, and no SIGKILL
  // follows: the container runs on, as containerd's stopContainer leaves it
  const given = abort ? new Promise<void>((r) => { if (abort.aborted) r(); else abort.addEventListener('abort', () => r(), { once: true }); }) : null;
  const waited = given ? Promise.race([exited, given]) : exited;
  const timedOut = wait < 0 ? await waited.then(() => false) : !(await within(waited, wait * 1000));
  if (abort?.aborted && running(rec.state)) throw deadlineExceeded(`stopping container ${rec.id}: the caller gave up waiting`);
  if (timedOut && running(rec.state)) {
    killing('SIGKILL');
    const failed = await rt.kill(rec.id, 'SIGKILL', true).then(() => null, (e: unknown) => e);
    // a SIGKILL the runtime could not send either: 2 s more, then its error (dockerd's; the
    // stop no longer waits forever for an exit that will not come, holding the lock)
    if (failed && !(await within(exited, 2000)) && running(rec.state) && !(await monitorDied(s, rec))) throw failed;
    // a monitor killed from outside reports no exit: found dead, its exit is recorded
    while (!(await within(exited, 1000))) await monitorDied(s, rec);
  }
  s.d.events.emit('container', 'stop', rec.id, s.attrs(rec));
  return 'stopped';
}

/** docker restart: stop, then a start by the user (RestartCount counts policy restarts only). */
export async function restart(s: ContainerService, ref: string, timeout?: number, signal?: string): Promise<void> {
  const rec = s.get(ref);
  // an --rm container is restarted, not removed, by its exit (dockerd's HasBeenManuallyRestarted)
  s.manualRestarts.add(rec.id);
  try {
    await s.stop(rec.id, timeout, signal);
    // docker's restart is a start by the user: the policy's count starts again
    await s.locked(rec.id, async () => {
      s.restarts.reset(rec.id);
      Object.assign(rec.state, { restartCount: 0, manuallyStopped: false });
      // another restart or start got there first: it runs, which is what was asked (dockerd's
      // containerStart returns nil for a running container)
      if (running(rec.state) && rec.state.status !== 'restarting') return;
      await s.startLocked(rec);
    });
  } catch (e) {
    // as dockerd's failed start of an --rm container: it goes
    if (rec.config.autoRemove && !running(rec.state) && s.d.store.has(rec.id)) await s.remove(rec.id, { force: true, volumes: true }).catch(() => {});
    throw e;
  } finally {
    s.manualRestarts.delete(rec.id);
  }
  s.d.events.emit('container', 'restart', rec.id, s.attrs(rec));
}

/** The restart manager's start (its delay is over): the count is raised already. */
export async function restartByPolicy(s: ContainerService, id: string): Promise<void> {
  if (!s.d.store.has(id)) return;
  const rec = s.d.store.get(id);
  await s.locked(id, async () => {
    if (rec.state.status !== 'restarting') return; // stopped, removed or started meanwhile
    try {
      await s.startLocked(rec);
    } catch (e) {
      rec.state.status = 'exited';
      await s.d.store.persist(rec).catch(() => {});
      throw e;
    }
  });
}

/** A container waiting for its policy restart is stopped there instead: true if it was. */
export async function endRestarting(s: ContainerService, rec: Container): Promise<boolean> {
  if (rec.state.status !== 'restarting') return false;
  s.restarts.cancel(rec.id);
  return s.locked(rec.id, async () => {
    if (rec.state.status !== 'restarting') return !running(rec.state);
    rec.state.status = 'exited';
    await s.d.store.persist(rec);
    s.waiters.wake(rec.id, ['not-running'], rec.state.exitCode);
    return true;
  });
}


export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
