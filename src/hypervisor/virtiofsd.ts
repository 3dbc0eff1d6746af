// virtiofsd: one per VM, serving one directory (the pod's shared dir) to the guest over a
// vhost-user socket. Started detached like the VMM, so both outlive a sandboxer restart; it
// exits by itself when QEMU closes the connection, and is killed at stop in any case.
import { spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync, constants as C } from 'node:fs';
import { failedPrecondition, unavailable } from '../common/errors.js';
import { pidAlive } from './vm.js';

export interface VirtiofsdOptions {
  binary: string;
  socket: string;
  /** The directory the guest sees (nothing above it is reachable: virtiofsd pivots into it). */
  source: string;
  logFile: string;
  timeoutMs?: number;
}

export async function startVirtiofsd(o: VirtiofsdOptions): Promise<number> {
  if (!(await fs.access(o.binary, C.X_OK).then(() => true, () => false))) {
    throw failedPrecondition(`virtiofsd ${o.binary} not found (apt-get install qemu-system-common, or set virtio_fs_daemon in vmm.toml)`);
  }
  await fs.rm(o.socket, { force: true });
  const log = openSync(o.logFile, 'w');
  let pid: number;
  let exited: number | null = null;
  try {
    // cache=auto: the guest revalidates on open, so a file the host changes shows up; the
    // default namespace sandbox keeps virtiofsd inside `source`
    const child = spawn(o.binary, [`--socket-path=${o.socket}`, '-o', `source=${o.source}`, '-o', 'cache=auto', '--thread-pool-size=2'], {
      detached: true, stdio: ['ignore', log, log],
    });
    child.once('exit', (code, sig) => { exited = code ?? (sig ? 137 : 1); });
    child.once('error', () => { exited = 127; });
    child.unref();
    pid = child.pid ?? 0;
  } finally {
    closeSync(log);
  }
  for (const end = Date.now() + (o.timeoutMs ?? 5000); Date.now() < end;) {
    if (await fs.stat(o.socket).then((s) => s.isSocket(), () => false)) return pid;
    if (exited !== null) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  stopVirtiofsd(pid);
  const tail = (await fs.readFile(o.logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
  throw unavailable(`virtiofsd for ${o.source} did not create ${o.socket}${exited !== null ? ` (exited with ${exited})` : ''}${tail ? `: ${tail}` : ''}`);
}

/** virtiofsd forks its worker into new namespaces (same process group): kill the group. */
export function stopVirtiofsd(pid: number): void {
  if (pid <= 0) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  if (pidAlive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
