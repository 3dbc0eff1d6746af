// `tsula-sandboxer agent-snapshot`: make the guest agent's startup snapshot for this host's
// VM config now (scripts/ensure-guest.sh runs it), so the first pod already boots fast. A
// note beside the cache remembers which key a (guest image, hypervisor, CPU) made, so a
// second run answers without booting anything.
import { sha256Hex } from '../../../common/crypto.js';
import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { detectAccel, loadVmmConfig, type HypervisorConfig, type AccelChoice } from '../../../hypervisor/index.js';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { AgentSnapshots, snapshotDir, defaultWorkDir, type SnapshotResult } from './snapshots.js';

export interface WarmupOptions {
  vmmConfig?: string;
  /** Use the kernel, initrd and image of this dir (ensure-guest.sh's DIR). */
  guestDir?: string;
  log?: Logger;
}

/** What decides the key a builder computes, as far as the host can tell. */
async function configStamp(cfg: HypervisorConfig, accel: AccelChoice): Promise<string> {
  let text = '';
  for (const f of [cfg.image, cfg.initrd, cfg.kernel, cfg.path].filter(Boolean)) {
    const st = await fs.stat(f);
    text += `${f} ${st.size} ${st.mtimeMs}\n`;
  }
  // under KVM the guest sees the host's CPU
  const cpu = (await fs.readFile('/proc/cpuinfo', 'utf8')).split('\n\n')[0];
  text += `${accel.accel} ${cfg.cpuModel} ${cfg.machineType}\n${accel.accel === 'kvm' ? cpu : ''}`;
  return sha256Hex(text).slice(0, 16);
}

export async function warmAgentSnapshot(o: WarmupOptions): Promise<{ result: SnapshotResult; dir: string; accel: AccelChoice } | { off: string }> {
  const vmm = await loadVmmConfig(o.vmmConfig);
  const cfg = vmm.hypervisors[vmm.default]!;
  if (o.guestDir) {
    cfg.kernel = path.join(o.guestDir, 'vmlinuz');
    cfg.initrd = path.join(o.guestDir, 'initramfs.cpio.gz');
    cfg.image = existsSync(path.join(o.guestDir, 'rootfs.img')) ? path.join(o.guestDir, 'rootfs.img') : '';
  }
  if (!cfg.agentSnapshot) return { off: 'agent_snapshot = false in the vmm config' };
  if (cfg.sharedFs !== 'virtio-fs') return { off: `shared_fs = "${cfg.sharedFs}": the guest can't be given a snapshot` };
  const accel = await detectAccel();
  const dir = snapshotDir(cfg);
  const note = path.join(dir, `.made-by-${await configStamp(cfg, accel)}`);
  const known = (await fs.readFile(note, 'utf8').catch(() => '')).trim();
  if (known && existsSync(path.join(dir, `${known}.blob`))) return { result: { key: known, outcome: 'cached', ms: 0 }, dir, accel };
  const snaps = new AgentSnapshots({ workDir: defaultWorkDir(), log: o.log });
  const result = await snaps.buildOrThrow(cfg, accel);
  if (result.key) await fs.writeFile(note, result.key).catch((e) => o.log?.warn('cannot write the snapshot note', { note, err: errorMessage(e) }));
  return { result, dir, accel };
}
