// The guest side of CloneSetup (protocol.ts): make a guest restored from a VM template its
// own. The kernel's CRNG state was copied with the template, so every clone would draw the
// same "random" bytes until its next scheduled reseed. /opt/tsula/tsula-clone-setup (a tiny
// static program, scripts/guest/clone-setup.s: node has no ioctl, clock_settime or mount)
// does it all: sets the clock, credits the host's fresh bytes to the entropy pool
// (RNDADDENTROPY) and forces the reseed (RNDRESEEDCRNG), sets the hostname, and mounts the
// virtio-fs share the host hot-plugged, retrying until the guest has probed its device.
//
// A clone's guest runs cold code: QEMU's translation cache starts empty in every clone, so
// whatever runs there first is translated afresh under TCG. A first fork of node took ~1.3 s:
// the template's agent starts the program before the template is saved, waiting on its stdin,
// and a clone only feeds it. One program instead of a shell and mount(8) saved ~100 ms.
import { spawn, type ChildProcess } from 'node:child_process';
import { exec } from '../common/exec.js';
import { invalidArgument, unavailable } from '../common/errors.js';
import { HOSTNAME_RE, type CloneSetupRequest } from './protocol.js';

export const CLONE_SETUP = '/opt/tsula/tsula-clone-setup';
const ENTROPY_BYTES = 64;
const INPUT_BYTES = 168;
/** What the program was doing when it failed: its exit code is the index. */
const SETUP_STEPS = ['', 'reading its input', 'setting the clock', 'opening /dev/urandom', 'crediting entropy (RNDADDENTROPY)',
  'reseeding the CRNG (RNDRESEEDCRNG)', 'setting the hostname', 'writing /etc/hostname',
  'mounting the share: no virtiofs device tagged tsula after 10 s'];
const TIMEOUT_MS = 30_000;

/**
 * tsula-clone-setup's stdin (168 bytes): struct timespec; struct rand_pool_info with the
 * bytes; u32 flags (1: mount the share); u32 the hostname's length; the hostname and '\n'.
 */
export function setupInput(r: { timeMs: number; entropy: Buffer; hostname: string; mountShared: boolean }): Buffer {
  if (r.entropy.length !== ENTROPY_BYTES) throw invalidArgument(`CloneSetup: entropy must be ${ENTROPY_BYTES} bytes, got ${r.entropy.length}`);
  if (!Number.isFinite(r.timeMs) || r.timeMs < 0) throw invalidArgument(`CloneSetup: bad time ${r.timeMs}`);
  if (typeof r.hostname !== 'string' || !HOSTNAME_RE.test(r.hostname)) throw invalidArgument(`CloneSetup: bad hostname ${JSON.stringify(r.hostname)}`);
  const b = Buffer.alloc(INPUT_BYTES);
  b.writeBigInt64LE(BigInt(Math.floor(r.timeMs / 1000)), 0);
  b.writeBigInt64LE(BigInt(Math.round((r.timeMs % 1000) * 1e6)), 8);
  b.writeInt32LE(ENTROPY_BYTES * 8, 16); // entropy_count, in bits
  b.writeInt32LE(ENTROPY_BYTES, 20); // buf_size
  r.entropy.copy(b, 24);
  b.writeUInt32LE(r.mountShared ? 1 : 0, 88);
  b.writeUInt32LE(r.hostname.length, 92); // ASCII: HOSTNAME_RE, at most 64
  b.write(`${r.hostname}\n`, 96, 'latin1');
  return b;
}

/** The program started ahead (in a template's guest), waiting on its stdin. */
let warm: ChildProcess | null = null;

/** A template's guest: start the program now (see above). */
export function prespawnCloneSetup(): void {
  if (warm) return;
  warm = spawn(CLONE_SETUP, [], { stdio: ['pipe', 'ignore', 'pipe'] });
  warm.on('error', () => { /* the call finds it dead and runs it anew */ });
}

/** Feed `input` to the waiting program (else run it anew): its exit code and stderr. */
async function feed(input: Buffer): Promise<{ code: number; stderr: string }> {
  const c = warm;
  warm = null;
  if (!c || c.exitCode !== null || c.signalCode !== null || !c.pid) {
    const r = await exec(CLONE_SETUP, [], { input, timeoutMs: TIMEOUT_MS });
    return { code: r.code, stderr: r.stderr };
  }
  return new Promise((resolve) => {
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const t = setTimeout(() => { stderr += `${CLONE_SETUP} ran longer than ${TIMEOUT_MS} ms: killed`; c.kill('SIGKILL'); }, TIMEOUT_MS);
    c.once('close', (code, sig) => { clearTimeout(t); resolve({ code: code ?? (sig ? 128 : 1), stderr }); });
    c.stdin!.on('error', () => { /* it died: close says how */ });
    c.stdin!.end(input);
  });
}

export async function cloneSetup(r: CloneSetupRequest): Promise<void> {
  // the time spent in transit is not known; the clock is right to the channel's latency
  const input = setupInput({ timeMs: r.timeMs, entropy: Buffer.from(String(r.entropy ?? ''), 'base64'), hostname: r.hostname, mountShared: !!r.mountShared });
  const s = await feed(input);
  if (s.code !== 0) {
    throw unavailable(`CloneSetup: ${CLONE_SETUP} failed ${SETUP_STEPS[s.code] ? `at ${SETUP_STEPS[s.code]}` : `with status ${s.code}`}${s.stderr ? `: ${s.stderr.trim()}` : ''}`);
  }
}
