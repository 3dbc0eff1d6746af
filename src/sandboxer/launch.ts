// Start the one tsula-sandboxer on demand (containerd-shim-tsula-v2 `start`, tsulad's
// built-in `vmm` runtime). Detached, own session, stdio to a log file: the caller may exit
// (containerd waits for EOF on the shim's pipes). Light imports only: the shim launcher
// bundles this.
import { promises as fs, openSync, closeSync, realpathSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DAEMON_V8_FLAGS, daemonEnv } from '../common/v8-flags.js';
import { taskSocketOf } from './admin.js';

const START_TIMEOUT_MS = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function canConnect(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** The sandboxer's launcher next to ours (bin/), unless TSULA_SANDBOXER_BIN says otherwise. */
function sandboxerBinary(): string {
  if (process.env.TSULA_SANDBOXER_BIN) return process.env.TSULA_SANDBOXER_BIN;
  const self = realpathSync(process.argv[1]);
  // bin/<launcher> → bin/tsula-sandboxer; build/*.mjs → ../bin/tsula-sandboxer
  const dir = path.dirname(self);
  return path.basename(dir) === 'build' ? path.join(dir, '..', 'bin', 'tsula-sandboxer') : path.join(dir, 'tsula-sandboxer');
}

/**
 * Make sure a sandboxer serves `state` (task socket) and `address` (Controller); start one
 * if not. Both must answer: the sandboxer listens on the task socket first.
 */
export async function ensureSandboxer(state: string, address: string): Promise<void> {
  const taskSock = taskSocketOf(state);
  const up = async () => (await canConnect(taskSock)) && (await canConnect(address));
  if (await up()) return;
  await fs.mkdir(state, { recursive: true, mode: 0o700 });
  const lock = path.join(state, '.starting');
  const deadline = Date.now() + START_TIMEOUT_MS;
  let mine = false;
  while (Date.now() < deadline) {
    if (await up()) break;
    if (!mine) {
      try {
        await fs.mkdir(lock);
        mine = true;
        const log = openSync(path.join(state, 'sandboxer.log'), 'a');
        const { spawn } = await import('node:child_process');
        const child = spawn(process.execPath, [...DAEMON_V8_FLAGS, sandboxerBinary(), '--state', state, '--listen', address], {
          detached: true, stdio: ['ignore', log, log], cwd: '/', env: daemonEnv('tsula-sandboxer', process.env),
        });
        child.unref();
        closeSync(log);
        if (child.pid) await adjustOomScore(child.pid);
      } catch (e) {
        // another launcher is starting it; a lock older than the timeout is stale
        const st = await fs.stat(lock).catch(() => null);
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && st && Date.now() - st.mtimeMs > START_TIMEOUT_MS) await fs.rm(lock, { recursive: true, force: true });
      }
    }
    await sleep(20);
  }
  if (mine) await fs.rm(lock, { recursive: true, force: true });
  if (!(await up())) throw new Error(`tsula-sandboxer did not come up on ${taskSock} and ${address} (see ${state}/sandboxer.log)`);
}

/**
 * containerd's shim.AdjustOOMScore: the sandboxer one point more killable than whoever started
 * it (containerd, or tsulad), so the OOM killer takes it (and the containers, which inherit its
 * score) before the daemon. Best effort, as containerd's.
 */
async function adjustOomScore(pid: number): Promise<void> {
  try {
    // ours: the shim launcher's is containerd's (its child, unchanged), tsulad's is its own
    const parent = Number((await fs.readFile('/proc/self/oom_score_adj', 'utf8')).trim());
    if (Number.isFinite(parent)) await fs.writeFile(`/proc/${pid}/oom_score_adj`, String(Math.min(parent + 1, 1000)));
  } catch { /* gone already, or not ours to set */ }
}
