// The guest side of CloneSetup (protocol.ts): make a guest restored from a VM template its
// own. The kernel's CRNG state was copied with the template, so every clone would draw the
// same "random" bytes until its next scheduled reseed: /opt/tsula/tsula-clone-seed (a tiny
// static program, scripts/guest/clone-seed.s: node has no ioctl) sets the clock, credits the
// host's fresh bytes to the entropy pool (RNDADDENTROPY) and forces the reseed
// (RNDRESEEDCRNG). Then the hostname, and the virtio-fs share the host hot-plugged. One sh
// script, in a shell the template's agent started before the template was saved: a clone's
// first fork of node took ~1.3 s under TCG (its translation cache starts empty), a fork of
// the small shell a fraction of that.
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { exec } from '../common/exec.js';
import { invalidArgument, unavailable } from '../common/errors.js';
import { GUEST_SHARED_DIR } from './paths.js';
import type { CloneSetupRequest } from './protocol.js';

export const CLONE_SEED = '/opt/tsula/tsula-clone-seed';
const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$/;
const ENTROPY_BYTES = 64;
const SEED_STEPS = ['', 'reading its input', 'setting the clock', 'opening /dev/urandom', 'crediting entropy (RNDADDENTROPY)', 'reseeding the CRNG (RNDRESEEDCRNG)'];

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

/** Where the seed's input waits for the script (guest tmpfs). */
const SEED_INPUT = '/run/tsula/clone-seed.in';

/** The script: seed (stdin is the seed's input), hostname ($1), then the share's mount. */
export function cloneScript(mountShared: boolean): string {
  const lines = [
    `${CLONE_SEED} < ${SEED_INPUT} || { r=$?; rm -f ${SEED_INPUT}; echo "seed:$r" >&2; exit 10; }`,
    `rm -f ${SEED_INPUT}`,
    'hostname "$1" && echo "$1" > /etc/hostname || { echo "hostname: cannot set $1" >&2; exit 11; }',
  ];
  if (mountShared) {
    // the hot-plugged device appears when the guest's PCIe hot-plug driver has probed it
    lines.push(
      `i=0; until mount -t virtiofs tsula ${GUEST_SHARED_DIR} 2>/dev/null; do`,
      '  i=$((i+1)); [ $i -ge 1000 ] && { echo "mount: no virtiofs device tagged tsula after 10 s" >&2; exit 12; }; usleep 10000',
      'done',
    );
  }
  return lines.join('\n') + '\n';
}

let warm: ChildProcess | null = null;

/** A template's guest: start the shell CloneSetup will run its script in (it waits on stdin). */
export function prespawnCloneShell(): void {
  if (warm) return;
  warm = spawn('sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'] });
  warm.on('error', () => { warm = null; });
  warm.on('exit', () => { warm = null; });
}

/** Run the script in the waiting shell (else in a new one): its exit code and stderr. */
async function runScript(script: string, timeoutMs: number): Promise<{ code: number; stderr: string }> {
  const sh = warm;
  warm = null;
  if (!sh || sh.exitCode !== null) return exec('sh', ['-c', script]).then((r) => ({ code: r.code, stderr: r.stderr }));
  return new Promise((resolve) => {
    let stderr = '';
    sh.stderr!.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    sh.stdout!.resume();
    const t = setTimeout(() => { stderr += `the script ran longer than ${timeoutMs} ms: killed`; sh.kill('SIGKILL'); }, timeoutMs);
    sh.once('close', (code, sig) => { clearTimeout(t); resolve({ code: code ?? (sig ? 128 : 1), stderr }); });
    sh.stdin!.end(script);
  });
}

export async function cloneSetup(r: CloneSetupRequest): Promise<void> {
  if (typeof r.hostname !== 'string' || !HOSTNAME_RE.test(r.hostname)) throw invalidArgument(`CloneSetup: bad hostname ${JSON.stringify(r.hostname)}`);
  // the time spent in transit is not known; the clock is right to the channel's latency
  await fs.writeFile(SEED_INPUT, seedInput(r.timeMs, Buffer.from(String(r.entropy ?? ''), 'base64')), { mode: 0o600 });
  // the hostname was checked: letters, digits, `.`, `-` and `_` only
  const out = await runScript(`set -- '${r.hostname}'\n${cloneScript(!!r.mountShared)}`, 30_000);
  if (out.code === 0) return;
  const seed = /seed:(\d+)/.exec(out.stderr);
  if (seed) {
    const step = Number(seed[1]);
    throw unavailable(`CloneSetup: ${CLONE_SEED} failed ${SEED_STEPS[step] ? `at ${SEED_STEPS[step]}` : `with status ${step}`}`);
  }
  throw unavailable(`CloneSetup: ${out.stderr.trim() || `sh exited ${out.code}`}`);
}
