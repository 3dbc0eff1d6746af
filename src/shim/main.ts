// containerd-shim-tsula-v2: a thin launcher, not a shim daemon. containerd runs it per
// container; `start` makes sure the one tsula-sandboxer runs, tells it which containerd
// the container belongs to, prints the sandboxer's task address and exits, so containerd
// sends every container's Task API calls to that one process. `delete` asks the
// sandboxer to clean a task up (or cleans up with runc itself when the sandboxer is gone)
// and prints a DeleteResponse. Only the address / the response may reach stdout/stderr.
//
// Start-up is most of a container's start latency here, so `start` loads nothing but
// node:fs/net/path: the registration is a file in the bundle, not an RPC, and `delete`
// (protobuf, ttrpc) is imported lazily; esbuild keeps a dynamic import's module
// uninitialised until it is called.
import { promises as fs, openSync, closeSync, realpathSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_ADDRESS, DEFAULT_STATE, SHIM_INFO_FILE, taskSocketOf, type ShimInfo } from '../sandboxer/admin.js';
const START_TIMEOUT_MS = 20_000;

export interface Args { namespace: string; address: string; id: string; bundle: string; debug: boolean; action: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { namespace: 'default', address: '', id: '', bundle: '', debug: false, action: '' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--?/, '');
    const eq = k.indexOf('=');
    const name = eq >= 0 ? k.slice(0, eq) : k;
    const val = () => (eq >= 0 ? k.slice(eq + 1) : argv[++i] ?? '');
    if (!argv[i].startsWith('-')) { a.action = argv[i]; continue; }
    switch (name) {
      case 'namespace': a.namespace = val(); break;
      case 'address': a.address = val(); break;
      case 'id': a.id = val(); break;
      case 'bundle': a.bundle = val(); break;
      case 'publish-binary': val(); break;
      case 'debug': a.debug = true; break;
      default: break; // unknown flags (newer containerd) are ignored
    }
  }
  return a;
}

export function config() {
  const state = path.resolve(process.env.TSULA_SANDBOXER_STATE || DEFAULT_STATE);
  return {
    state,
    address: path.resolve((process.env.TSULA_SANDBOXER_ADDRESS || DEFAULT_ADDRESS).replace(/^unix:\/\//, '')),
    taskSock: taskSocketOf(state),
  };
}

/** The sandboxer's launcher next to ours (bin/), unless TSULA_SANDBOXER_BIN says otherwise. */
function sandboxerBinary(): string {
  if (process.env.TSULA_SANDBOXER_BIN) return process.env.TSULA_SANDBOXER_BIN;
  const self = realpathSync(process.argv[1]);
  // bin/containerd-shim-tsula-v2 → bin/tsula-sandboxer; build/*.mjs → ../bin/tsula-sandboxer
  const dir = path.dirname(self);
  return path.basename(dir) === 'build' ? path.join(dir, '..', 'bin', 'tsula-sandboxer') : path.join(dir, 'tsula-sandboxer');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function canConnect(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Start the sandboxer detached (own session, stdio to a log file: containerd waits for EOF on our pipes). */
async function ensureSandboxer(c: ReturnType<typeof config>): Promise<void> {
  if (await canConnect(c.taskSock)) return;
  await fs.mkdir(c.state, { recursive: true, mode: 0o700 });
  const lock = path.join(c.state, '.starting');
  const deadline = Date.now() + START_TIMEOUT_MS;
  let mine = false;
  while (Date.now() < deadline) {
    if (await canConnect(c.taskSock)) break;
    if (!mine) {
      try {
        await fs.mkdir(lock);
        mine = true;
        const log = openSync(path.join(c.state, 'sandboxer.log'), 'a');
        const { spawn } = await import('node:child_process');
        const child = spawn(process.execPath, [sandboxerBinary(), '--state', c.state, '--listen', c.address], {
          detached: true, stdio: ['ignore', log, log], cwd: '/', env: process.env,
        });
        child.unref();
        closeSync(log);
      } catch (e) {
        // another launcher is starting it; a lock older than the timeout is stale
        const st = await fs.stat(lock).catch(() => null);
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && st && Date.now() - st.mtimeMs > START_TIMEOUT_MS) await fs.rm(lock, { recursive: true, force: true });
      }
    }
    await sleep(20);
  }
  if (mine) await fs.rm(lock, { recursive: true, force: true });
  if (!(await canConnect(c.taskSock))) throw new Error(`tsula-sandboxer did not come up on ${c.taskSock} (see ${c.state}/sandboxer.log)`);
}

async function start(a: Args): Promise<void> {
  const c = config();
  await ensureSandboxer(c);
  const bundle = process.cwd();
  // which containerd this container belongs to: the sandboxer reads it at Create
  const info: ShimInfo = { id: a.id, namespace: a.namespace, eventsAddress: process.env.TTRPC_ADDRESS ?? '', containerdAddress: a.address };
  await fs.writeFile(path.join(bundle, SHIM_INFO_FILE), JSON.stringify(info), { mode: 0o600 });
  const address = `unix://${c.taskSock}`;
  await fs.writeFile(path.join(bundle, 'address'), address, { mode: 0o600 });
  process.stdout.write(address);
}

export async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv.slice(2));
  try {
    if (a.action === 'start') await start(a);
    else if (a.action === 'delete') await (await import('./delete.js')).del(a);
    else throw new Error(`unknown action "${a.action}" (want start or delete)`);
    process.exit(0);
  } catch (e) {
    // containerd logs our combined output on failure
    process.stderr.write(`containerd-shim-tsula-v2 ${a.action}: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
