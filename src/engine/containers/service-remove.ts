// The service's rm (service.ts delegates): the tombstone first, then the runtime's state,
// the writable layer, the bundle and the record; and the exit record a removal made moot.
import { Phases } from '../../common/phases.js';
import { errorMessage, failedPrecondition } from '../../common/errors.js';
import { running, type Container } from './model.js';
import { forget } from './recovery.js';
import { endRestarting, podMembers, sleep } from './service-stop.js';
import type { ContainerService } from './service.js';
import { StagedSubpaths } from '../volumes/subpath-stage.js';
import { removeTree } from '../../common/fsutil.js';

export interface RemoveOptions { force: boolean; volumes?: boolean }

/** docker rm; `volumes`: rm -v, the container's anonymous volumes go too. */
export async function remove(s: ContainerService, ref: string, opts: RemoveOptions): Promise<void> {
  const rec = s.get(ref);
  const id = rec.id;
  // dockerd's SetRemovalInProgress: one removal at a time, the others get a conflict
  if (s.removalsDue.has(id)) throw failedPrecondition(`removal of container ${id} is already in progress`);
  s.removalsDue.set(id, (s.removalsDue.get(id) ?? 0) + 1);
  try {
    await removeNow(s, rec, opts);
  } finally {
    const due = (s.removalsDue.get(id) ?? 1) - 1;
    if (due > 0) s.removalsDue.set(id, due); else s.removalsDue.delete(id);
    // the removal failed (or was refused) after an exit skipped its record for it
    if (due === 0 && s.exitUnrecorded.delete(id) && s.d.store.has(id)) await recordExit(s, rec);
  }
}

/** The record of an exit that was left for a removal to make moot, and then its release. */
function recordExit(s: ContainerService, rec: Container): Promise<void> {
  return s.locked(rec.id, async () => {
    if (!s.d.store.has(rec.id) || running(rec.state) || rec.state.status === 'removing') return;
    if (await s.d.store.persist(rec)) await s.release(rec);
  }).catch((e) => s.d.log.error('cannot write container record', { id: rec.id, err: errorMessage(e) }));
}

async function removeNow(s: ContainerService, rec: Container, opts: RemoveOptions): Promise<void> {
  if (opts.force) s.restarts.disarm(rec.id); // the kill below is not an exit to restart after
  if (rec.state.status === 'restarting' && opts.force) await endRestarting(s, rec);
  if (running(rec.state)) {
    if (opts.force) await Promise.all(podMembers(s, rec).map((m) => s.stop(m.id, 0)));
    if (!opts.force) {
      // dockerd's words: the state as its StateString names it, and for a paused one the unpause first
      const state = rec.state.status === 'paused' || rec.state.status === 'restarting' ? rec.state.status : 'running';
      const procedure = `${state === 'paused' ? 'Unpause and then stop' : 'Stop'} the container before attempting removal or force remove`;
      throw failedPrecondition(`You cannot remove a ${state} container ${rec.id}. ${procedure}`);
    }
    const exited = s.wait(rec.id, 'not-running');
    // dockerd's cleanupContainer kills through daemon.Kill, which logs it
    s.d.events.emit('container', 'kill', rec.id, s.attrs(rec, { signal: '9' }));
    await s.runtimeOf(rec).kill(rec.id, 'SIGKILL', true).catch(() => {});
    if (rec.state.status === 'paused') await s.runtimeOf(rec).resume(rec.id).catch(() => {});
    await Promise.race([exited, sleep(10_000)]);
  }
  await s.locked(rec.id, async () => {
    if (!s.d.store.has(rec.id)) return;
    const ph = new Phases('remove', rec.id);
    // an exited container's runtime state went when its exit was recorded, unless the disk was
    // full or it is an --rm container's; its monitor is gone: a delete, not a discard, frees it
    const exited = rec.state.status === 'exited';
    // a created container has not run while this tsulad held it (a start that failed deleted
    // what it made; recovery discarded what a crashed one left): no monitor to hunt for either
    const created = rec.state.status === 'created';
    const keepsRuntime = !exited || s.unreleased.has(rec.id);
    s.faults.hit('rm:before-mark');
    rec.state.status = 'removing';
    // rm must work on a full disk, to free it: the mark is a rename (no space needed), and
    // the writable layer goes before anything that could need space
    await s.d.store.markRemoving(rec);
    ph.mark('mark');
    s.faults.hit('rm:after-mark');
    const rt = s.d.runtimes.get(rec.runtime);
    if (keepsRuntime && rt) await (exited || created ? rt.delete(rec.id, s.bundle(rec.id), true) : forget(rt, rec.id, s.bundle(rec.id))).catch(() => {});
    ph.mark('runtime');
    s.unreleased.delete(rec.id);
    await s.d.driver.remove(rec.id);
    ph.mark('snapshot');
    s.faults.hit('rm:after-snapshot');
    await StagedSubpaths.clear(s.bundle(rec.id)); // a crashed start's, never rm'd through
    await removeTree(s.bundle(rec.id));
    await s.d.store.delete(rec);
    s.exitUnrecorded.delete(rec.id);
    s.restarts.forget(rec.id);
    await s.hooks.removed(rec, { volumes: !!opts.volumes }).catch((e) => s.d.log.warn('after rm', { id: rec.id, err: errorMessage(e) }));
    ph.mark('record');
    ph.done(s.d.log);
    s.pendingAttach.fail(rec.id);
    s.d.events.emit('container', 'destroy', rec.id, s.attrs(rec));
    s.waiters.wake(rec.id, ['removed', 'next-exit', 'not-running'], rec.state.exitCode);
  });
  void s.d.store.flushPending(); // the space this freed may let pending records be written
}
