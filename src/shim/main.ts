// containerd-shim-tsula-v2: a thin launcher, not a shim daemon. containerd runs it per
// container; `start` makes sure the one tsula-sandboxer runs, tells it which containerd
// the container belongs to, prints the sandboxer's task address for the container's
// namespace and exits, so containerd sends every container's Task API calls to that one
// process, one socket per namespace (sandboxer/namespace-sockets.ts). `delete` asks the
// sandboxer to clean a task up (or cleans up with runc itself when the sandboxer is gone)
// and prints a DeleteResponse. Only the address / the response may reach stdout/stderr.
//
// Start-up is most of a container's start latency here, so `start` loads nothing but
// node:fs/net/path: the registration is a file in the bundle, not an RPC (one only for a
// namespace's first task), and `delete` and that RPC (protobuf, ttrpc) are imported lazily;
// esbuild keeps a dynamic import's module
// uninitialised until it is called.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_ADDRESS, DEFAULT_STATE, SHIM_INFO_FILE, namespaceSocketOf, taskSocketOf, type ListenRequest, type ListenResponse, type ShimInfo } from '../sandboxer/admin.js';
import { canConnect, ensureSandboxer } from '../sandboxer/launch.js';

export { canConnect } from '../sandboxer/launch.js';

export interface Args { namespace: string; address: string; id: string; bundle: string; debug: boolean; version: boolean; action: string }

function parseArgs(argv: string[]): Args {
  const a: Args = { namespace: '', address: '', id: '', bundle: '', debug: false, version: false, action: '' };
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
      case 'v': a.version = true; break;
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

async function start(a: Args): Promise<void> {
  const c = config();
  await ensureSandboxer(c.state, c.address);
  const bundle = process.cwd();
  // which containerd this container belongs to: the sandboxer reads it at Create
  const info: ShimInfo = { id: a.id, namespace: a.namespace, eventsAddress: process.env.TTRPC_ADDRESS ?? '', containerdAddress: a.address };
  await fs.writeFile(path.join(bundle, SHIM_INFO_FILE), JSON.stringify(info), { mode: 0o600 });
  const address = await namespaceAddress(c, a.namespace);
  await fs.writeFile(path.join(bundle, 'address'), address, { mode: 0o600 });
  process.stdout.write(address);
}

/** The task socket of the container's namespace (sandboxer/namespace-sockets.ts): served already, or asked for. */
async function namespaceAddress(c: ReturnType<typeof config>, ns: string): Promise<string> {
  const sock = namespaceSocketOf(c.state, ns);
  if (await canConnect(sock)) return `unix://${sock}`;
  const { adminCall } = await import('../sandboxer/admin-call.js');
  return (await adminCall<ListenResponse>(c.taskSock, 'Listen', { namespace: ns } satisfies ListenRequest, 10_000)).address;
}

export async function main(argv: string[]): Promise<void> {
  // a root process: SIGUSR1 must not open node's inspector (common/debug-signal.ts); ours lives briefly, nothing to dump
  process.on('SIGUSR1', () => undefined);
  const a = parseArgs(argv.slice(2));
  try {
    if (a.version) {
      // containerd's shim library prints this for -v and exits
      const { VERSION } = await import('../engine/api/version.js');
      const { GIT_COMMIT } = await import('../common/buildinfo.js');
      process.stdout.write(`containerd-shim-tsula-v2:\n  Version:  ${VERSION}\n  Revision: ${GIT_COMMIT}\n  Node version: ${process.version}\n\n`);
      process.exit(0);
    }
    // as containerd's shim library: a shim belongs to a namespace
    if (!a.namespace) throw new Error('shim namespace cannot be empty');
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
