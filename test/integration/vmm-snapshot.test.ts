// The guest agent's V8 startup snapshot, with real VMs: V8 takes a snapshot only on the CPU
// it was made for, so it is made in a builder VM and cached by the host. A boot without a
// snapshot (empty cache, another -cpu model) or with one V8 refuses (a damaged blob) must
// still bring the agent up, say so, and make the sandboxer build the right one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { VmmSandboxKind } from '../../src/sandboxer/kinds/vmm/index.js';
import { mountsUnder } from '../../src/sandboxer/kinds/vmm/shared.js';
import type { SandboxRecord } from '../../src/sandboxer/kinds/types.js';
import type { AgentStartup } from '../../src/agent/protocol.js';
import { defaultHypervisorConfig, pidAlive, type HypervisorConfig } from '../../src/hypervisor/index.js';
import { processesNamed } from '../helpers/containerd.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const QEMU = '/usr/bin/qemu-system-x86_64';
const missing = [QEMU, `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
if (missing.length) throw new Error(`VM tests need ${missing.join(', ')}: apt-get install qemu-system-x86 and run scripts/ensure-guest.sh ${GUEST}`);

const execFileP = promisify(execFile);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsnap-'));
const cache = path.join(dir, 'cache');
const kinds: VmmSandboxKind[] = [];
const pids = new Set<number>();
after(async () => {
  for (const k of kinds) await k.close();
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const name of ['qemu-system-x86_64', 'virtiofsd']) {
    for (const pid of await processesNamed(name, dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  for (const m of mountsUnder(dir)) await execFileP('umount', ['-l', m]).catch(() => {});
  await fs.rm(dir, { recursive: true, force: true });
});

const qemu = (over: Partial<HypervisorConfig> = {}): HypervisorConfig => ({
  ...defaultHypervisorConfig('qemu'), kernel: `${GUEST}/vmlinuz`, initrd: `${GUEST}/initramfs.cpio.gz`, image: `${GUEST}/rootfs.img`,
  bootTimeout: 120, agentSnapshotDir: cache, ...over,
});

let n = 0;
/** Boot a pod with cfg, return how its agent started and in how many ms, then stop it. */
async function boot(kind: VmmSandboxKind): Promise<{ startup: AgentStartup; readyMs: number; console: string }> {
  const sb: SandboxRecord = { id: `snap-${++n}`, kind: 'vmm', createdAt: new Date().toISOString(), netnsPath: '', annotations: {}, state: 'created', pid: 0, kindState: {} };
  const started = await kind.start(sb, path.join(dir, 'sandboxes'));
  pids.add(started.pid);
  Object.assign(sb, { pid: started.pid, kindState: started.kindState, state: 'ready' });
  const consoleLog = (started.kindState.paths as { consoleLog: string }).consoleLog;
  const console = await fs.readFile(consoleLog, 'utf8');
  await kind.stop(sb, 10);
  assert.equal(pidAlive(started.pid), false);
  return { startup: started.kindState.agentStartup as AgentStartup, readyMs: started.kindState.readyMs as number, console };
}

const kindWith = (cfg: HypervisorConfig) => {
  const k = new VmmSandboxKind({ stateDir: dir, config: { default: 'qemu', hypervisors: { qemu: cfg } } });
  kinds.push(k);
  return k;
};

test('agent snapshot: none at first (the agent still answers), made in a builder VM, used, a damaged one refused and replaced; another -cpu model boots', { timeout: 600_000 }, async () => {
  const cfg = qemu();
  const kind = kindWith(cfg);

  // 1. an empty cache: the agent starts from its script and the sandboxer makes the snapshot
  const a = await boot(kind);
  assert.equal(a.startup.snapshot, 'missing');
  assert.match(a.startup.key, /^[0-9a-f]{16}$/);
  assert.match(a.console, /init: no agent snapshot for this CPU \([0-9a-f]{16}\) yet: starting the agent without one/);
  await kind.snapshots.idle();
  const blob = path.join(cache, `${a.startup.key}.blob`);
  assert.ok((await fs.stat(blob)).size > 1_000_000, 'the builder VM made the snapshot for the guest\'s key');

  // 2. the next boot runs the agent from it
  const b = await boot(kind);
  assert.deepEqual(b.startup, { snapshot: 'used', key: a.startup.key });
  console.log(`# agent ready: ${a.readyMs} ms from its script, ${b.readyMs} ms from the snapshot`);

  // 3. a damaged blob: V8 refuses it (node dies before the agent runs), /init starts the
  // script at once, and the sandboxer replaces the blob
  const good = await fs.readFile(blob);
  const bad = Buffer.from(good);
  bad.write('damaged!', Math.floor(bad.length / 3));
  await fs.writeFile(blob, bad);
  const c = await boot(kind);
  assert.equal(c.startup.snapshot, 'refused');
  assert.match(c.startup.detail ?? '', /^exit=\d+$/);
  assert.match(c.console, /init: the agent snapshot [0-9a-f]{16} was refused \(node exited with \d+\): starting the agent without it/);
  await kind.snapshots.idle();
  const again = await fs.readFile(blob);
  assert.ok(again.length > 1_000_000 && !again.equals(bad), 'the refused blob was replaced');

  // 4. another CPU model than the snapshot was made for: another key, so no snapshot V8
  // would refuse; the agent answers
  const other = qemu({ cpuModel: 'EPYC' });
  const d = await boot(kindWith(other));
  assert.equal(d.startup.snapshot, 'missing');
  assert.notEqual(d.startup.key, a.startup.key);
});
