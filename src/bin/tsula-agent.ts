// tsula-agent: the guest's agent, bundled to build/tsula-agent.cjs and put into the guest
// image by scripts/build-guest.sh. When the host asks for Shutdown it ends itself and /init
// powers the VM off.
//
// A builder VM runs this file once with `node --build-snapshot` (see build-guest.sh's /init):
// everything above main() (the module graph, protobuf registries) is then deserialized at
// boot instead of being evaluated again, which under TCG saves seconds.
import { startupSnapshot } from 'node:v8';
// loaded now, so that a snapshot holds it: the attach addon's JavaScript and the builtins it
// needs (its native binary loads on first use: scripts/bundle.mjs, addonLoader)
import 'node-unix-socket/js/seqpacket.js';
import { runAgent } from '../agent/index.js';
import { handleDebugSignal } from '../common/debug-signal.js';

function main(): void {
  // node's start to here: the snapshot's deserialization (or the script's evaluation)
  const startedMs = Math.round(process.uptime() * 1000);
  // /init started us from a snapshot and falls back to the plain script if we die before
  // this signal: V8 accepted the snapshot once main() runs
  if (process.env.TSULA_AGENT_NOTIFY === '1') {
    try { process.kill(process.ppid, 'SIGUSR1'); } catch { /* init is gone: nothing to tell */ }
  }
  // the guest's root: SIGUSR1 must not open node's inspector on the guest's loopback
  handleDebugSignal('tsula-agent', '/run');
  // a builder VM's check that V8 takes the snapshot it just made
  if (process.env.TSULA_AGENT_CHECK === '1') process.exit(0);
  // the port: an argument of the plain script; a snapshot's argv[1] is its first argument
  const port = process.argv.find((a, i) => i > 0 && a.startsWith('/dev/'));
  runAgent({ port, startedMs }).then(
    // not process.exit(): exit joins libuv's thread pool, where a read on the virtio port
    // blocks until the host writes again; SIGKILL ends us now and /init sees status 137
    () => process.kill(process.pid, 'SIGKILL'),
    (e: unknown) => { process.stderr.write(`tsula-agent: ${(e as Error).message}\n`); process.exit(1); },
  );
}

if (startupSnapshot?.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(main);
else main();
