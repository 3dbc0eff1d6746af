// A container's start under its lock (a start, a restart, a restart policy's): the rootfs,
// the spec, the runtime's create and start, the attach waiting for it, and on a failure
// everything undone and the runtime's refusal kept as dockerd words it.
import { promises as fs } from 'node:fs';
import { Phases } from '../../common/phases.js';
import { errorMessage, TsulaError } from '../../common/errors.js';
import type { Container } from './model.js';
import type { ContainerService } from './service.js';
import { etcFilesIntact, writeEtcFiles } from './create.js';
import { dockerdStartError } from './oci-errors.js';
import { connectPendingAttach } from './service-attach.js';
import { runtimeLogCap } from './log-rotation.js';
import { StagedSubpaths } from '../volumes/subpath-stage.js';

export async function startLocked(s: ContainerService, rec: Container): Promise<void> {
  const rt = s.runtimeOf(rec);
  const bundle = s.bundle(rec.id);
  const ph = new Phases('start', rec.id);
  let created = false;
  let hooked = false;
  let staged = StagedSubpaths.none;
  try {
    // the last run's runtime state, kept while its exit was not on disk: this run replaces it
    if (s.unreleased.has(rec.id)) await s.release(rec);
    await fs.mkdir(bundle, { recursive: true, mode: 0o700 });
    hooked = true;
    await s.hooks.beforeStart(rec);
    // its network state goes to disk while the runtime creates (not awaited): a tsulad that
    // dies after the runtime's start adopts the container with its endpoints and ports
    if (rec.state.network?.endpoints.length) void s.d.store.persist(rec).catch(() => {});
    if (!(await etcFilesIntact(rec))) await writeEtcFiles(rec); // a power cut emptied them
    const rootfs = await s.d.driver.mount(rec.id);
    ph.mark('mount');
    s.faults.hit('start:after-mount'); // recovery unmounts a rootfs no runtime state goes with
    staged = await StagedSubpaths.stage(rec.config.volumes ?? [], bundle);
    s.faults.hit('start:after-stage'); // recovery unmounts what is staged
    await s.realtimeBudget(rec.config.resources);
    // dockerd's mergeUlimits: the daemon's default-ulimits join the container's own in its
    // HostConfig at each start (inspect shows them), its own names winning
    const missing = (s.d.defaultUlimits ?? []).filter((u) => !rec.config.ulimits.some((own) => own.name === u.name));
    if (missing.length) rec.config.ulimits = [...rec.config.ulimits, ...missing.map((u) => ({ ...u }))];
    const spec = await s.specFor(rec, rootfs, staged.sources);
    ph.mark('spec');
    for (const b of rec.config.binds) await fs.mkdir(b.source, { recursive: true }).catch(() => { /* a file, or read-only: runc says */ });
    const pid = await rt.create({
      id: rec.id, bundle, spec, logPath: rec.config.logDriver === 'none' ? '/dev/null' : rec.paths.log, logSizeMax: runtimeLogCap(rec, !!rt.reopenLog), terminal: rec.config.tty,
      // docker closes stdin at the end of an attach's input only without a TTY: with one,
      // Ctrl-P Ctrl-Q (or a dropped client) must leave the shell's input open for the next attach
      stdin: rec.config.openStdin, stdinOnce: rec.config.stdinOnce && !rec.config.tty,
    });
    created = true;
    ph.mark('runtime-create');
    await staged.release(); // the runtime's mounts hold the subpaths now
    s.faults.hit('start:after-create');
    await connectPendingAttach(s, rec, rt, bundle);
    ph.mark('attach');
    const startedAt = new Date().toISOString(); // before: the exit may be stamped before start returns
    await rt.start(rec.id);
    ph.mark('runtime-start');
    s.faults.hit('start:after-start'); // recovery adopts it from the runtime
    Object.assign(rec.state, { status: 'running', pid, exitCode: 0, error: '', oomKilled: false, startedAt });
    // the record follows the response: a full disk or a crash before the write are caught
    // up by the store's retry and by recovery (a live conmon over a record that says "created")
    void s.d.store.persist(rec).catch((e) => s.d.log.error('cannot write container record', { id: rec.id, err: errorMessage(e) }));
    s.ooms.watch(rec);
    await s.hooks.started(rec).catch((e) => s.d.log.warn('after start', { id: rec.id, err: errorMessage(e) }));
    // after its network's connect and its volumes' mount events, as dockerd logs them
    s.d.events.emit('container', 'start', rec.id, s.attrs(rec));
    ph.done(s.d.log);
  } catch (e) {
    s.pendingAttach.fail(rec.id);
    if (created) await rt.delete(rec.id, bundle, true).catch(() => {});
    await staged.release().catch((u) => s.d.log.warn('releasing volume subpaths after a failed start', { id: rec.id, err: errorMessage(u) }));
    if (hooked) await s.hooks.stopped(rec).catch((u) => s.d.log.warn('releasing after a failed start', { id: rec.id, err: errorMessage(u) }));
    await s.d.driver.unmount(rec.id).catch(() => {});
    const msg = errorMessage(e);
    // a docker container's runtime refusal in dockerd's words and codes (a CRI one's as it is)
    const said = rec.config.pod ? null : dockerdStartError(e, [...rec.config.entrypoint, ...rec.config.cmd][0] ?? '', 'create');
    rec.state.error = said ? said.error.message : msg;
    rec.state.exitCode = said?.exitCode ?? (/not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128);
    await s.d.store.persist(rec).catch(() => {});
    if (said) throw said.error;
    throw e instanceof TsulaError ? e : new TsulaError('Internal', msg);
  }
}
