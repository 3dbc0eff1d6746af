// The service's create (service.ts delegates): a front end's spec checked, the name
// reserved, the image found, the writable layer and the container's files made, the
// record written. On any failure nothing of it is left.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Phases } from '../../common/phases.js';
import { invalidArgument, isKind, isNoSpace, noSpaceLeft } from '../../common/errors.js';
import { newId, validateName } from '../../common/ids.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import { rlimits } from '../../oci/spec.js';
import type { Container, CreateSpec } from './model.js';
import { resolveContainer, writeEtcFiles } from './create.js';
import { makeWorkingDir } from './rootfs.js';
import { parseSignal } from './signals.js';
import type { ContainerService } from './service.js';
import { readHookSpec } from './hook-spec.js';

/**
 * Make a container from a front end's spec (the Docker-shaped API's and CRI's translate
 * into it): resources checked, the name reserved before the first await, the image found,
 * the writable layer prepared. On any failure nothing of it is left.
 */
export async function create(s: ContainerService, spec: CreateSpec): Promise<{ Id: string; Warnings: string[] }> {
  // dockerd checks the settings before it looks for the image or takes the name
  const id = newId();
  const ph = new Phases('create', id);
  const warnings = await s.verifyResources(spec.resources);
  // a stop signal dockerd can't parse is refused now, not at the first docker stop
  if (spec.stopSignal) parseSignal(spec.stopSignal);
  // dockerd 28+ looks a --pid container:<x> up at create (a 400); whether it runs, at start
  const pidOf = spec.sharedNamespaces?.pid;
  if (pidOf) {
    try { s.get(pidOf); } catch (e) { if (isKind(e, 'NotFound')) throw invalidArgument(`No such container: ${pidOf}`); throw e; }
  }
  ph.mark('verify');
  // the name is taken before the first await: a concurrent create sees it reserved, and a
  // generated name is checked against every reserved name, not only the saved records
  const names = s.d.store.names;
  let cname: string;
  try {
    cname = spec.name ? names.reserve(validateName(spec.name), id) : names.reserveGenerated(id);
  } catch (e) {
    // docker looks the image up first: a missing image is a 404 even when the name is taken
    if (isKind(e, 'AlreadyExists')) await s.d.images.get(spec.image);
    throw e;
  }
  const dir = s.d.store.dir(id);
  let prepared = false;
  let hooked: Container | null = null;
  let mounted = false;
  try {
    const runtime = spec.runtime || s.d.defaultRuntime;
    if (!(await s.ensureRuntime(runtime))) throw invalidArgument(`unknown runtime specified ${runtime} (configured: ${[...s.d.runtimes.keys()].join(', ')})`);
    const image = await s.d.images.get(spec.image);
    ph.mark('image');
    // iSulad's hook spec: the container's own, else the daemon's; read now (a later edit of
    // the file changes no container), not for a VM's guest, where no host hook runs
    const inVm = s.d.runtimes.get(runtime)?.guestKernel === true;
    if (spec.hookSpec && inVm) throw invalidArgument(`--hook-spec: runtime ${runtime} runs the container in a VM, where hooks on the host do not run`);
    const hookSpec = spec.hookSpec || (inVm ? undefined : s.d.hookSpec);
    if (hookSpec) spec = { ...spec, hookSpec, hooks: await readHookSpec(hookSpec) };
    // the spec builder's own check, so a bad --ulimit fails now rather than at start
    rlimits({ ulimits: spec.ulimits }, await s.hostInfo());
    const rec = resolveContainer({ id, name: cname, spec, image, runtime, driver: s.d.driver.name, containerDir: dir });
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    prepared = true; // before: a prepare cut short by a full disk leaves pieces to remove
    ph.mark('resolve');
    await s.d.driver.prepare(id, image.chainIds);
    // dockerd's init layer has an empty /.dockerenv that scripts look for (diff and commit
    // leave it out); a kubelet's container has none, as under containerd
    if (!spec.cri) await fs.writeFile(path.join(s.d.driver.writableDir(id), '.dockerenv'), '', { mode: 0o755 });
    hooked = rec;
    await s.hooks.create(rec, {
      spec, image, warnings,
      rootfs: async () => { mounted = true; return s.d.driver.mount(id); },
    });
    // dockerd makes the working directory at create (a kubelet's is left to the runtime); one
    // the image has needs nothing. Only a rootfs no hook touched shows the image as it is
    const workdir = spec.cri ? '' : rec.config.workingDir;
    if (workdir && !s.workingDirs.has(image.id, workdir)) {
      const pristine = !mounted;
      mounted = true;
      if (await makeWorkingDir(await s.d.driver.mount(id), workdir) === 'there' && pristine) s.workingDirs.add(image.id, workdir);
    }
    if (mounted) { mounted = false; await s.d.driver.unmount(id); }
    ph.mark('snapshot');
    await writeEtcFiles(rec);
    await fs.mkdir(path.dirname(rec.paths.log), { recursive: true });
    await writeFileAtomic(rec.paths.log, '', 0o600, 'none'); // `logs` before the start reads it
    ph.mark('files');
    s.faults.hit('create:before-save'); // a directory without a record: dropped at start-up
    await s.d.store.save(rec);
    ph.mark('record');
    s.d.events.emit('container', 'create', id, s.attrs(rec));
    ph.done(s.d.log);
    return { Id: id, Warnings: warnings };
  } catch (e) {
    if (hooked) await s.hooks.createFailed(hooked);
    if (mounted) await s.d.driver.unmount(id).catch(() => {});
    if (prepared) await s.d.driver.remove(id).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true });
    names.release(cname, id); // last: the name is free only once nothing of it is left
    throw isNoSpace(e) ? noSpaceLeft(s.d.graph, `creating container ${cname}`, e) : e;
  }
}


