// The guest side of CloneSetup (protocol.ts): make a guest restored from a VM template its
// own. The kernel's CRNG state was copied with the template, so every clone would draw the
// same "random" bytes until its next scheduled reseed. /opt/tsula/tsula-clone-setup (a tiny
// static program, scripts/guest/clone-setup.s: node has no ioctl, clock_settime or mount)
// does it all: sets the clock, credits the host's fresh bytes to the entropy pool
// (RNDADDENTROPY) and forces the reseed (RNDRESEEDCRNG), sets the hostname, and mounts the
// virtio-fs share the host hot-plugged, retrying until the guest has probed its device.
//
// A clone's guest runs cold code: QEMU's translation cache starts empty in every clone, so
// whatever runs there first is translated afresh under TCG: the template's agent starts the
// program before the template is saved, waiting on its stdin, and a clone only feeds it
// (waiting.ts). One program instead of a shell and mount(8) took ~100 ms off a clone's
// ~800 ms to ready. Likewise the agent's own code for a CloneSetup: V8 compiles a function
// when it first runs, and compiling is the most of a cold guest's work (parser, bytecode
// generator, regexp compiler). The template builder sends a rehearsal before the template is
// saved (`rehearse`: the program checks its input and exits, changing nothing), so every
// clone finds the JS compiled; with the channel left connected across the save (no hang-up to
// handle: hypervisor/vm.ts), a clone compiles nothing before it is ready, and its resume ->
// ready went from ~500 to ~250 ms.
import { getSystemErrorMap } from 'node:util';
import { invalidArgument, unavailable } from '../common/errors.js';
import { HOSTNAME_RE, type CloneSetupRequest } from './protocol.js';
import { feed, StartedAhead, type Outcome } from './waiting.js';
import { prespawnNetworkApplier, releaseNetworkApplier } from './network.js';

export const CLONE_SETUP = '/opt/tsula/tsula-clone-setup';
const ENTROPY_BYTES = 64;
const INPUT_BYTES = 168;
/** What the program was doing when it failed: its exit code is the index. */
const SETUP_STEPS = ['', 'reading its input', 'setting the clock', 'opening /dev/urandom', 'crediting entropy (RNDADDENTROPY)',
  'reseeding the CRNG (RNDRESEEDCRNG)', 'setting the hostname', 'writing /etc/hostname', 'mounting the share'];
const MOUNT_STEP = 8;
const EINVAL = 22;
const TIMEOUT_MS = 30_000;
/** The latest time a JS Date holds (ms): the kernel takes far later, the host never sends it. */
const MAX_TIME_MS = 8.64e15;

/**
 * tsula-clone-setup's stdin (168 bytes): struct timespec; struct rand_pool_info with the
 * bytes; u32 flags (1: mount the share; 2: check the input only); u32 the hostname's length;
 * the hostname and '\n'.
 */
export function setupInput(r: { timeMs: number; entropy: Buffer; hostname: string; mountShared: boolean; rehearse?: boolean }): Buffer {
  if (r.entropy.length !== ENTROPY_BYTES) throw invalidArgument(`CloneSetup: entropy must be ${ENTROPY_BYTES} bytes, got ${r.entropy.length}`);
  if (!Number.isFinite(r.timeMs) || r.timeMs < 0 || r.timeMs > MAX_TIME_MS) throw invalidArgument(`CloneSetup: bad time ${r.timeMs}`);
  if (typeof r.hostname !== 'string' || !HOSTNAME_RE.test(r.hostname)) throw invalidArgument(`CloneSetup: bad hostname ${JSON.stringify(r.hostname)}`);
  const b = Buffer.alloc(INPUT_BYTES);
  const ms = Math.floor(r.timeMs);
  b.writeBigInt64LE(BigInt(Math.floor(ms / 1000)), 0);
  b.writeBigInt64LE(BigInt((ms % 1000) * 1_000_000), 8); // tv_nsec < 1e9 always
  b.writeInt32LE(ENTROPY_BYTES * 8, 16); // entropy_count, in bits
  b.writeInt32LE(ENTROPY_BYTES, 20); // buf_size
  r.entropy.copy(b, 24);
  b.writeUInt32LE((r.mountShared ? 1 : 0) | (r.rehearse ? 2 : 0), 88);
  b.writeUInt32LE(r.hostname.length, 92); // ASCII: HOSTNAME_RE, at most 64
  b.write(`${r.hostname}\n`, 96, 'latin1');
  return b;
}

const setup = new StartedAhead(CLONE_SETUP, []);

/** A template's guest: start the program now (see above). */
export function prespawnCloneSetup(): void {
  setup.start();
}

/** Why the program failed, in words: the step, the call's errno, and what to look at. */
export function setupFailure(o: Outcome): string {
  if (o.error) {
    return o.error.code === 'ENOENT'
      ? `CloneSetup: the guest image has no ${CLONE_SETUP}: rebuild the guest assets (scripts/ensure-guest.sh); the template is then made again`
      : `CloneSetup: cannot run ${CLONE_SETUP}: ${o.error.message}`;
  }
  if (o.signal) return `CloneSetup: ${CLONE_SETUP} was killed by ${o.signal}${o.timedOut ? ` after ${TIMEOUT_MS / 1000} s` : ''}`;
  const errno = o.stderr.length === 1 ? o.stderr[0]! : 0;
  if (o.code === MOUNT_STEP && errno === EINVAL) {
    return 'CloneSetup: no virtiofs device tagged tsula after 10 s: its hot-plug did not reach the guest (see the sandboxer\'s log and the VM\'s console.log)';
  }
  const step = SETUP_STEPS[o.code ?? 0];
  const [name, text] = errno ? getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, ''] : ['', ''];
  const cause = errno ? `: ${name}${text ? ` (${text})` : ''}` : o.stderr.length ? `: ${o.stderr.toString('utf8').trim()}` : '';
  return `CloneSetup: ${CLONE_SETUP} failed ${step ? `at ${step}` : `with status ${o.code}`}${cause}`;
}

export async function cloneSetup(r: CloneSetupRequest): Promise<void> {
  // the time spent in transit is not known; the clock is right to the channel's latency
  const input = setupInput({
    timeMs: r.timeMs, entropy: Buffer.from(String(r.entropy ?? ''), 'base64'), hostname: r.hostname, mountShared: !!r.mountShared, rehearse: !!r.rehearse,
  });
  const o = await feed(setup.take(), input, TIMEOUT_MS);
  if (o.code !== 0 || o.signal || o.error) throw unavailable(setupFailure(o));
  // after the setup, which the pod waits for: the applier's exit runs while the host goes on
  if (r.network === false) releaseNetworkApplier();
  // the template's rehearsal took what its clones use: they wait for the clones again
  if (r.rehearse) {
    setup.start();
    prespawnNetworkApplier();
  }
}
