// A container whose monitor (conmon) was killed from outside: no exit file will ever come,
// so it would stay "running" with a dead pid and a stop would wait forever. dockerd learns it
// from containerd (the shim's connection closes); conmon tells nobody, so its pid is looked at:
// every few seconds for the running containers of runtimes whose monitors can be (no process
// of our own, two small reads each), and at once by a stop or kill whose exit is late. Found
// dead, the container is exited 255, "container monitor died", as recovery records it after
// a restart of tsulad.
import { errorMessage } from '../../common/errors.js';
import type { Container } from './model.js';
import { running } from './model.js';
import { monitorGone } from './recovery.js';
import type { ContainerService } from './service.js';

export const MONITOR_POLL_MS = 5_000;

/**
 * Is rec's monitor dead with no exit reported? Then its exit is recorded (255) and true; false
 * while it lives, the container does not run, or its runtime's monitors are not to be polled.
 */
export async function monitorDied(cs: ContainerService, rec: Container): Promise<boolean> {
  const rt = cs.runtimeOf(rec);
  if (!rt.monitorsPollable) return false;
  const bundle = cs.bundle(rec.id);
  const dead = await cs.locked(rec.id, async () => {
    if (!cs.d.store.has(rec.id) || !running(rec.state) || rec.state.status === 'restarting') return false;
    if (await rt.monitorAlive(rec.id, bundle)) return false;
    // an exit file written just before conmon exited: the exit watcher records that one
    return !(await rt.exitStatus(rec.id));
  });
  if (!dead) return false;
  await monitorGone(cs, rt, rec.id, bundle);
  return true;
}

/** Look at the monitors of the running containers every MONITOR_POLL_MS; the stop function. */
export function pollMonitors(cs: ContainerService): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      for (const rec of cs.list()) {
        if (running(rec.state)) await monitorDied(cs, rec).catch((e) => cs.d.log.warn('checking a container monitor', { id: rec.id, err: errorMessage(e) }));
      }
    })().finally(() => { busy = false; });
  }, MONITOR_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
