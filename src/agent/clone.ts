// The guest side of CloneSetup (protocol.ts): make a guest restored from a VM template its
// own. The kernel's CRNG state was copied with the template, so every clone would draw the
// same "random" bytes until its next scheduled reseed: /opt/tsula/tsula-clone-seed (a tiny
// static program, scripts/guest/clone-seed.s: node has no ioctl) sets the clock, credits the
// host's fresh bytes to the entropy pool (RNDADDENTROPY) and forces the reseed
// (RNDRESEEDCRNG). Then the hostname, and the virtio-fs share the host hot-plugged.
//
// A clone's first fork of node took ~1.3 s under TCG (QEMU's translation cache starts empty
// in every clone): the template's agent starts the seed program and a shell for the mount
// before the template is saved, both waiting on their stdin; a clone only feeds them.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { exec } from '../common/exec.js';
import { invalidArgument, unavailable } from '../common/errors.js';
import { GUEST_SHARED_DIR } from './paths.js';
import { HOSTNAME_RE, type CloneSetupRequest } from './protocol.js';

export const CLONE_SEED = '/opt/tsula/tsula-clone-seed';
const ENTROPY_BYTES = 64;
const SEED_STEPS = ['', 'reading its input', 'setting the clock', 'opening /dev/urandom', 'crediting entropy (RNDADDENTROPY)', 'reseeding the CRNG (RNDRESEEDCRNG)'];
const TIMEOUT_MS = 30_000;

/** tsula-clone-seed's stdin: struct timespec, then struct rand_pool_info with the bytes. */
export function seedInput(timeMs: number, entropy: Buffer): Buffer {
  if (entropy.length !== ENTROPY_BYTES) throw invalidArgument(`CloneSetup: entropy must be ${ENTROPY_BYTES} bytes, got ${entropy.length}`);
  if (!Number.isFinite(timeMs) || timeMs < 0) throw invalidArgument(`CloneSetup: bad time ${timeMs}`);
  const b = Buffer.alloc(16 + 8 + ENTROPY_BYTES);
  b.writeBigInt64LE(BigInt(Math.floor(timeMs / 1000)), 0);
  b.writeBigInt64LE(BigInt(Math.round((timeMs % 1000) * 1e6)), 8);
  b.writeInt32LE(ENTROPY_BYTES * 8, 16); // entropy_count, in bits
  b.writeInt32LE(ENTROPY_BYTES, 20); // buf_size
  entropy.copy(b, 24);
  return b;
}

/** The share's mount, waiting for the hot-plugged device to be probed. */
export function mountScript(): string {
  return [
    `i=0; until mount -t virtiofs tsula ${GUEST_SHARED_DIR} 2>/dev/null; do`,
    '  i=$((i+1)); [ $i -ge 1000 ] && { echo "mount: no virtiofs device tagged tsula after 10 s" >&2; exit 12; }; usleep 10000',
    'done',
  ].join('\n') + '\n';
}

/** Processes started ahead (in a template's guest), waiting on stdin. */
const warm: { seed: ChildProcess | null; sh: ChildProcess | null } = { seed: null, sh: null };

function waiting(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  c.on('error', () => { /* the call finds it dead and spawns anew */ });
  return c;
}

/** A template's guest: start the seed program and the mount's shell now (see above). */
export function prespawnCloneShell(): void {
  warm.seed ??= waiting(CLONE_SEED, []);
  warm.sh ??= waiting('sh', ['-s']);
}

/** Feed `input` to the waiting process (else run cmd anew): its exit code and stderr. */
async function feed(which: keyof typeof warm, cmd: string, args: string[], input: Buffer | string): Promise<{ code: number; stderr: string }> {
  const c = warm[which];
  warm[which] = null;
  if (!c || c.exitCode !== null || c.signalCode !== null || !c.pid) {
    const r = await exec(cmd, args, { input, timeoutMs: TIMEOUT_MS });
    return { code: r.code, stderr: r.stderr };
  }
  return new Promise((resolve) => {
    let stderr = '';
    c.stderr!.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const t = setTimeout(() => { stderr += `${cmd} ran longer than ${TIMEOUT_MS} ms: killed`; c.kill('SIGKILL'); }, TIMEOUT_MS);
    c.once('close', (code, sig) => { clearTimeout(t); resolve({ code: code ?? (sig ? 128 : 1), stderr }); });
    c.stdin!.on('error', () => { /* it died: close says how */ });
    c.stdin!.end(input);
  });
}

export async function cloneSetup(r: CloneSetupRequest): Promise<void> {
  if (typeof r.hostname !== 'string' || !HOSTNAME_RE.test(r.hostname)) throw invalidArgument(`CloneSetup: bad hostname ${JSON.stringify(r.hostname)}`);
  // the time spent in transit is not known; the clock is right to the channel's latency
  const input = seedInput(r.timeMs, Buffer.from(String(r.entropy ?? ''), 'base64'));
  const seeded = feed('seed', CLONE_SEED, [], input);
  const mounted = r.mountShared ? feed('sh', 'sh', ['-s'], mountScript()) : null;
  if (!r.mountShared) warm.sh?.kill('SIGKILL');
  const hostname = fs.writeFile('/proc/sys/kernel/hostname', r.hostname).then(() => fs.writeFile('/etc/hostname', `${r.hostname}\n`));
  const [s, m] = await Promise.all([seeded, mounted, hostname.catch((e: Error) => { throw unavailable(`CloneSetup: cannot set the hostname: ${e.message}`); })]);
  if (s.code !== 0) {
    throw unavailable(`CloneSetup: ${CLONE_SEED} failed ${SEED_STEPS[s.code] ? `at ${SEED_STEPS[s.code]}` : `with status ${s.code}`}${s.stderr ? `: ${s.stderr.trim()}` : ''}`);
  }
  if (m && m.code !== 0) throw unavailable(`CloneSetup: ${m.stderr.trim() || `the share's mount exited ${m.code}`}`);
}
