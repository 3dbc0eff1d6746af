// The service's update, pause, unpause, rename and top (service.ts delegates): docker's
// commands that change a container's settings or state without a new run.
import { errorKind, errorMessage, failedPrecondition, invalidArgument, isKind, isNoSpace, noSpaceLeft, TsulaError, withContext } from '../../common/errors.js';
import { validateName } from '../../common/ids.js';
import { running } from './model.js';
import { verifyResources } from './resources.js';
import { mergeUpdate, recordLimits, updateBodySchema, updateLimits, updateRequest, updatedRestartPolicy } from './update.js';
import { guestPsTable, psTable } from './top.js';
import type { ContainerService } from './service.js';

/** docker update: checked, merged into the record; a live container's cgroups follow at once. */
export async function update(s: ContainerService, ref: string, rawBody: unknown): Promise<{ Warnings: string[] }> {
  const parsed = (await updateBodySchema()).safeParse(rawBody);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw invalidArgument(`invalid update config: ${i.path.join('.') || 'body'}: ${i.message}`);
  }
  const req = updateRequest(parsed.data);
  const rec = s.get(ref);
  // a real-time budget is the container's cgroup parent's (its --cgroup-parent, else tsula's)
  req.CgroupParent = rec.config.resources.CgroupParent;
  const warnings = await s.verifyResources(req, true);
  await s.locked(rec.id, async () => {
    if (rec.state.status === 'removing' || rec.state.status === 'dead') {
      throw failedPrecondition(`Cannot update container ${rec.id}: container is marked for removal and cannot be "update"`);
    }
    const policy = updatedRestartPolicy(rec.id, parsed.data, rec.config.autoRemove);
    const merged = mergeUpdate(rec.id, rec.config.resources, req);
    // the merged set must hold together as a create's would (memory ≥ reservation, …)
    verifyResources({ ...merged }, s.sys!, { update: true, canLowerOomScore: true });
    // a container between restarts has no runtime container: the change is kept and applies at
    // its next start, as dockerd's update returns nil while it restarts (and a new policy is kept)
    if (running(rec.state) && rec.state.status !== 'restarting') {
      await s.runtimeOf(rec).update(rec.id, s.bundle(rec.id), await updateLimits(merged, req))
        .catch((e) => { throw new TsulaError(errorKind(e), `Cannot update container ${rec.id}: ${errorMessage(e)}`, { cause: e }); });
      await recordLimits(s.bundle(rec.id), merged).catch((e) => s.d.log.warn('cannot write the new limits into the bundle', { id: rec.id, err: errorMessage(e) }));
    }
    Object.assign(rec.config.resources, merged);
    if (policy) rec.config.restartPolicy = policy;
    await s.d.store.save(rec);
  });
  s.d.events.emit('container', 'update', rec.id, s.attrs(rec));
  return { Warnings: warnings };
}

/** `by`: an operation that pauses the container for its while (commit), for recovery to undo. */
export async function pause(s: ContainerService, ref: string, by?: 'commit'): Promise<void> {
  const rec = s.get(ref);
  await s.locked(rec.id, async () => {
    if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
    if (rec.state.status === 'paused') throw failedPrecondition(`Container ${rec.id} is already paused`);
    // the record names the operation before the freeze: a crash from here on is undone
    if (by) {
      rec.state.pausedBy = by;
      await s.d.store.save(rec);
    }
    await s.runtimeOf(rec).pause(rec.id).catch(async (e: unknown) => {
      if (by) { delete rec.state.pausedBy; await s.d.store.persist(rec).catch(() => false); }
      throw e;
    });
    rec.state.status = 'paused';
    await s.d.store.persist(rec);
    s.d.events.emit('container', 'pause', rec.id, s.attrs(rec));
  });
}

export async function unpause(s: ContainerService, ref: string): Promise<void> {
  const rec = s.get(ref);
  await s.locked(rec.id, async () => {
    if (rec.state.status !== 'paused') throw failedPrecondition(`Container ${rec.id} is not paused`);
    await s.runtimeOf(rec).resume(rec.id);
    rec.state.status = 'running';
    delete rec.state.pausedBy;
    await s.d.store.persist(rec);
    s.d.events.emit('container', 'unpause', rec.id, s.attrs(rec));
  });
}

export async function rename(s: ContainerService, ref: string, newName: string): Promise<void> {
  const rec = s.get(ref);
  const old = rec.name;
  // dockerd canonicalizes the new name to "/name" first, and words a name it can't take
  // (invalid, or another container's) as "Error when allocating new name: …"; compose and
  // deploy scripts match on that prefix
  const slashed = newName.startsWith('/') ? newName : `/${newName}`;
  if (slashed === `/${old}`) throw invalidArgument(`Renaming a container with the same name as its current name`);
  const allocating = (e: unknown): never => { throw withContext(e, 'Error when allocating new name'); };
  let n = '';
  try { n = validateName(slashed); } catch (e) { allocating(e); }
  await s.d.store.rename(rec, n).catch((e) => {
    if (isNoSpace(e)) throw noSpaceLeft(s.d.graph, `renaming container ${old}`, e);
    if (isKind(e, 'AlreadyExists')) allocating(e);
    throw e;
  });
  s.d.events.emit('container', 'rename', rec.id, s.attrs(rec, { oldName: '/' + old }));
}

export async function top(s: ContainerService, ref: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
  const rec = s.get(ref);
  if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
  const rt = s.runtimeOf(rec);
  // its pids are the guest's: the host's ps would show whichever host processes share them
  let table;
  if (rt.guestKernel) {
    if (!rt.processes) throw failedPrecondition(`container ${rec.name} runs in a VM (runtime ${rec.runtime}): its processes are the guest kernel's, which the host's ps cannot see; run ps in it instead (docker exec ${rec.name} ps)`);
    table = await guestPsTable(rec.name, rec.runtime, psArgs, () => rt.processes!(rec.id));
  } else {
    table = await psTable(await rt.pids(rec.id), psArgs);
  }
  s.d.events.emit('container', 'top', rec.id, s.attrs(rec)); // dockerd's ContainerTop logs one
  return table;
}


