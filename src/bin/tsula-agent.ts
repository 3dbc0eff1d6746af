// tsula-agent: the guest's agent, bundled to build/tsula-agent.mjs and put into the guest
// image by scripts/build-guest.sh. When the host asks for Shutdown it ends itself and /init
// powers the VM off.
import { runAgent } from '../agent/index.js';

const port = process.argv[2];
runAgent({ port }).then(
  // not process.exit(): exit joins libuv's thread pool, where a read on the virtio port
  // blocks until the host writes again; SIGKILL ends us now and /init sees status 137
  () => process.kill(process.pid, 'SIGKILL'),
  (e: unknown) => { process.stderr.write(`tsula-agent: ${(e as Error).message}\n`); process.exit(1); },
);
