// A VM's virtio-fs in its dir: <dir>/shared (shared.ts) served by a virtiofsd of its own
// (socket fs.sock, log virtiofsd.log). Its pid goes to virtiofsd.pid before the VM starts, so a
// restarted sandboxer can reap it should the start never finish.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { startVirtiofsd, type HypervisorConfig } from '../../../hypervisor/index.js';
import type { SharedDir } from './shared.js';

export const VIRTIOFSD_PID = 'virtiofsd.pid';

export function fsSocketIn(dir: string): string {
  return path.join(dir, 'fs.sock');
}

/** Start the virtiofsd serving `shared` to the VM of `dir`: its pid. */
export async function startPodFs(cfg: HypervisorConfig, dir: string, shared: SharedDir): Promise<number> {
  const pid = await startVirtiofsd({ binary: cfg.virtioFsDaemon, socket: fsSocketIn(dir), source: shared.hostDir, logFile: path.join(dir, 'virtiofsd.log') });
  await fs.writeFile(path.join(dir, VIRTIOFSD_PID), String(pid));
  return pid;
}
