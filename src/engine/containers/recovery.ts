// Recovery at start-up (live restore): every record is reconciled with what the OCI runtime
// and conmon say, so that a crash at any step of create, start, exit handling or rm leaves a
// container that is either running and monitored, cleanly created or exited (no runtime
// state, no runc init, no conmon: `start` works), or exited with the code conmon recorded.
// Never stuck. The rules, in the order applied:
//   - a tombstone (an rm cut short) is removed: the writable layer first, it frees space;
//   - a record that says running: conmon's exit file wins (the exit watcher delivers it);
//     a live conmon means still running (thawed if an operation's pause, a commit's, was
//     cut short); neither means the monitor died (exit 255);
//   - a record that says created/exited whose runtime holds a newer run (a start cut short
//     after `runc start`): with a live conmon it is adopted as running; with an exit file
//     newer than the record, that exit is recorded;
//   - anything else the runtime holds for a created/exited record (runc "created" with its
//     runc init waiting, a conmon, a stale exit file) is discarded, and its rootfs unmounted
//     (a start cut short before conmon leaves only that);
//   - runtime state or conmons of ids no record names are discarded.
import { imageMountKeys } from './image-mounts.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { running, type Container } from './model.js';
import type { Runtime } from '../../runtime/types.js';
import { errorMessage } from '../../common/errors.js';
import { removeTree } from '../../common/fsutil.js';
import { unmountUnder } from '../../storage/mounts.js';
import type { ContainerService } from './service.js';
import { StagedSubpaths } from '../volumes/subpath-stage.js';

/** Make a container not exist in its runtime (monitor, processes, state, exit file). */
export async function forget(rt: Runtime, id: string, bundle: string): Promise<void> {
  if (rt.discard) await rt.discard(id, bundle);
  else await rt.delete(id, bundle, true);
}

/** A running container whose monitor died with no exit reported: gone from its runtime, exited 255. */
export async function monitorGone(cs: ContainerService, rt: Runtime, id: string, bundle: string): Promise<void> {
  cs.d.log.warn('container monitor died; marking container exited', { id });
  await forget(rt, id, bundle).catch((e) => cs.d.log.warn('cleaning up after a dead monitor', { id, err: errorMessage(e) }));
  await cs.onExit(id, 255, new Date(), 'container monitor died');
}

export async function recoverContainers(cs: ContainerService): Promise<void> {
  const { store, driver, log } = cs.d;
  const recs = await store.load((id, err) => {
    log.warn('dropping half-created container', { id, err: errorMessage(err) });
    void fs.rm(path.join(store.root, id), { recursive: true, force: true });
    void driver.remove(id).catch(() => {});
  }, (id, from, to) => log.warn('container name already taken by another record; renamed', { id, from, to }));
  for (const name of new Set(recs.map((r) => r.runtime))) {
    if (!(await cs.ensureRuntime(name))) log.warn(`runtime ${name} of existing containers is not available`);
  }
  // interrupted removals first: their writable layers may be the space a full disk needs back
  for (const t of await store.tombstones()) {
    log.warn('finishing the removal of a container', { id: t.id });
    await finishRemoval(cs, t.id, t.rec).catch((e) => log.warn('finishing removal', { id: t.id, err: errorMessage(e) }));
  }
  // a container's snapshots: its rootfs and its image mounts' (image-mounts.ts)
  const known = new Set(recs.flatMap((r) => [r.id, ...imageMountKeys(r)]));
  for (const key of await driver.listSnapshots()) {
    if (!known.has(key)) await driver.remove(key).catch(() => {});
  }
  for (const rec of recs) {
    try {
      await recoverOne(cs, rec);
      await discardStaleExecs(cs.bundle(rec.id), running(rec.state));
    } catch (e) {
      log.error('cannot recover container', { id: rec.id, err: errorMessage(e) });
    }
  }
  await discardOrphans(cs);
}

/** The rest of an rm a crash cut short (its record is a tombstone now). */
async function finishRemoval(cs: ContainerService, id: string, rec: Container | null): Promise<void> {
  const rt = rec ? cs.d.runtimes.get(rec.runtime) : undefined;
  if (rt) await forget(rt, id, cs.bundle(id)).catch(() => {}); // unknown runtime: the orphan sweep
  await cs.d.driver.remove(id);
  await fs.rm(cs.bundle(id), { recursive: true, force: true });
  await cs.d.store.dropTombstone(id);
}

async function recoverOne(cs: ContainerService, rec: Container): Promise<void> {
  const { log, store } = cs.d;
  const id = rec.id;
  if (rec.state.status === 'removing') { // written by engines before tombstones
    await cs.remove(id, { force: true }).catch((e) => log.warn('finishing removal', { id, err: errorMessage(e) }));
    return;
  }
  if (rec.state.status === 'restarting') {
    // its policy restart died with the engine: the start-up's restarts take it (restart.ts)
    Object.assign(rec.state, { status: 'exited', pid: 0 });
    await store.persist(rec);
  }
  const rt = cs.runtimeOf(rec);
  const bundle = cs.bundle(id);
  // volume subpaths a start had staged: the runtime has its own mounts of them, if any
  await StagedSubpaths.clear(bundle).catch((e) => log.warn('unmounting the staged volume subpaths of a cut start', { id, err: errorMessage(e) }));
  const exit = await rt.exitStatus(id);
  const alive = await rt.monitorAlive(id, bundle);
  let st = await rt.state(id).catch(() => null);

  if (running(rec.state)) {
    if (exit) return; // conmon's exit file wins: the exit watcher reports it below
    if (alive && rec.state.pausedBy) {
      // the operation that froze it (docker commit) died with the engine: nobody will thaw it
      log.warn('resuming a container an interrupted operation had paused', { id, by: rec.state.pausedBy });
      if (st?.status === 'paused') await rt.resume(id).catch((e) => log.warn('resuming', { id, err: errorMessage(e) }));
      st = await rt.state(id).catch(() => null);
      delete rec.state.pausedBy;
      rec.state.status = st?.status === 'paused' ? 'paused' : 'running';
      await store.persist(rec);
    }
    if (alive) {
      // still monitored (an exit from now on reaches the watcher); refresh what may be stale
      const paused = st?.status === 'paused';
      if (st && st.status !== 'stopped' && (paused !== (rec.state.status === 'paused') || st.pid !== rec.state.pid)) {
        Object.assign(rec.state, { status: paused ? 'paused' : 'running', pid: st.pid });
        await store.persist(rec);
      }
      return;
    }
    // conmon may have written the exit file between our two looks, just before it exited
    if (await rt.exitStatus(id)) return;
    await monitorGone(cs, rt, id, bundle);
    return;
  }

  // created or exited: a newer run may hide in the runtime (a start cut short before its record)
  if (exit && exit.at.toISOString() !== rec.state.finishedAt) {
    // it ran and exited while we were down: the exit watcher records its code
    log.warn('a container whose start was cut short has exited; recording its exit', { id, code: exit.code });
    Object.assign(rec.state, { status: 'running', pid: st?.pid ?? 0, error: '', startedAt: (st?.createdAt ?? exit.at).toISOString() });
    return;
  }
  if (alive && st && st.status !== 'created' && st.status !== 'unknown') {
    // `runc start` ran: the container runs under a live conmon that will report its exit
    log.warn('adopting a container whose start was cut short', { id, status: st.status });
    const paused = st.status === 'paused';
    Object.assign(rec.state, {
      status: paused ? 'paused' : 'running', pid: st.pid, exitCode: 0, error: '', startedAt: (st.createdAt ?? new Date()).toISOString(),
    });
    await store.persist(rec);
    return;
  }
  if (exit || alive || st) {
    // never started, or nothing left to adopt: back to a clean "created" (or "exited")
    log.warn('cleaning up after a start that was cut short', { id, runtime: st?.status ?? 'none', monitor: alive });
    await forget(rt, id, bundle);
  }
  // a start cut short before the runtime had anything (its rootfs mounted, no conmon yet)
  // leaves only the mount: a container that does not run holds none
  await cs.d.driver.unmount(id).catch((e) => log.warn('unmounting the rootfs of a container that does not run', { id, err: errorMessage(e) }));
}

/**
 * The dirs of execs a previous tsulad started (<bundle>/exec/<id>): its sessions died with it,
 * and an exec removes its dir only when it sees the exit. Those of a container that no
 * longer runs all go; a running one's go once the exec's monitor wrote its exit (one still
 * running keeps its dir: its monitor writes there).
 */
async function discardStaleExecs(bundle: string, isRunning: boolean): Promise<void> {
  const root = path.join(bundle, 'exec');
  if (!isRunning) { await fs.rm(root, { recursive: true, force: true }); return; }
  for (const id of await fs.readdir(root).catch(() => [] as string[])) {
    const exits = await fs.readdir(path.join(root, id, 'exit')).catch(() => [] as string[]);
    if (exits.length) await fs.rm(path.join(root, id), { recursive: true, force: true });
  }
}

/** Runtime state and monitors of ids no record names (a crash between our steps). */
async function discardOrphans(cs: ContainerService): Promise<void> {
  for (const rt of new Set(cs.d.runtimes.values())) {
    if (!rt.containerIds) continue;
    const ids = await rt.containerIds().catch((e) => {
      cs.d.log.warn('cannot list runtime containers', { runtime: rt.name, err: errorMessage(e) });
      return [] as string[];
    });
    for (const id of ids) {
      if (cs.d.store.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
      cs.d.log.warn('discarding a container no record names', { id, runtime: rt.name });
      await forget(rt, id, cs.bundle(id)).catch((e) => cs.d.log.warn('discarding', { id, err: errorMessage(e) }));
      await fs.rm(cs.bundle(id), { recursive: true, force: true });
    }
  }
  // a bundle no record names and no runtime runs (a record deleted by hand: iSulad's
  // cleanup_leftover.sh; its snapshot went above): its mounts first, never across them
  const root = path.dirname(cs.bundle('0'.repeat(64)));
  for (const id of await fs.readdir(root).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{64}$/.test(id) || cs.d.store.has(id)) continue;
    const bundle = path.join(root, id);
    let alive = false;
    for (const rt of new Set(cs.d.runtimes.values())) alive ||= await rt.monitorAlive(id, bundle).catch(() => false);
    if (alive) continue;
    cs.d.log.warn('removing the runtime files of a container no record names', { id });
    await unmountUnder(bundle).then(() => removeTree(bundle)).catch((e) => cs.d.log.warn('removing', { id, err: errorMessage(e) }));
  }
}

/**
 * --rm containers that do not run go, as dockerd's restore removes them: a `run --rm` a
 * crash cut short (created, or exited while tsulad was down) is never left behind.
 */
export async function removeAutoRemoved(cs: ContainerService): Promise<void> {
  for (const c of cs.list()) {
    if (!c.config.autoRemove || running(c.state)) continue;
    await cs.remove(c.id, { force: true, volumes: true }).catch((e) => cs.d.log.warn('auto-remove at restore', { id: c.id, err: errorMessage(e) }));
  }
}
