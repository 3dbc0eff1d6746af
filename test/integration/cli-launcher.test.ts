// bin/tsula, the CLI's launcher: it starts node from the CLI's startup snapshot
// (build/tsula.blob) only when build/tsula.blob.key says the snapshot fits this node and this
// CPU, and otherwise runs the plain bundle; either way the CLI sees the same arguments and
// environment and gives the same output and exit code. (Every other test that runs the CLI
// goes through bin/tsula too, the snapshot's path on this machine.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, TSULA } from '../helpers/daemon.js';

let scratch: string;
const NOWHERE = () => `unix://${scratch}/none.sock`;

before(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-launcher-'));
});
after(async () => {
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

interface Run { code: number | null; stdout: string; stderr: string; via: 'snapshot' | 'bundle' | 'none' }

/** bin/tsula (or a copy) under `sh -x`, whose trace says which node command it ran. */
function launch(launcher: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync('sh', ['-x', launcher, ...args], { encoding: 'utf8', env: { ...process.env, TSULA_HOST: NOWHERE(), ...env } });
  const exec = r.stderr.split('\n').filter((l) => /^\+ exec \S*node /.test(l)).pop() ?? '';
  const via = exec.includes('--snapshot-blob') ? 'snapshot' : exec ? 'bundle' : 'none';
  const stderr = r.stderr.split('\n').filter((l) => !l.startsWith('+')).join('\n');
  return { code: r.status, stdout: r.stdout, stderr, via };
}

/** The plain bundle, run as before the launcher existed. */
function bundle(args: string[]): Omit<Run, 'via'> {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'build/tsula.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, TSULA_HOST: NOWHERE() } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const CASES: string[][] = [
  ['--help'],
  ['-v'],
  ['run', '--help'],
  ['version'], // the client's part, then the daemon it can't reach (exit 1)
  ['nosuchcommand'],
  ['--nosuchflag'],
  ['ps', '--', 'x'],
];

test('from its snapshot, the CLI gets its arguments, environment and exit codes as from the bundle', () => {
  for (const args of CASES) {
    const r = launch(TSULA, args);
    assert.equal(r.via, 'snapshot', `tsula ${args.join(' ')} did not start from the snapshot (was build/tsula.blob made? ${r.stderr})`);
    assert.deepEqual({ code: r.code, stdout: r.stdout, stderr: r.stderr }, bundle(args), `tsula ${args.join(' ')}`);
  }
  const r = launch(TSULA, ['version']);
  assert.match(r.stderr, new RegExp(`${scratch}/none\\.sock`), 'TSULA_HOST read at run time, not when the snapshot was made');
});

test('the plain bundle runs when told to, or when NODE_OPTIONS could change V8 flags', () => {
  for (const env of [{ TSULA_CLI_SNAPSHOT: '0' }, { NODE_OPTIONS: '--max-old-space-size=200' }]) {
    const r = launch(TSULA, ['--help'], env);
    assert.equal(r.via, 'bundle', JSON.stringify(env));
    assert.equal(r.code, 0);
    assert.equal(r.stdout, bundle(['--help']).stdout);
  }
});

test('a snapshot made for another CPU or another node is not used; neither is a missing one', async () => {
  // a copy of the launcher beside a build dir of links to the real one, with its own key
  const copy = path.join(scratch, 'copy');
  await fs.mkdir(path.join(copy, 'bin'), { recursive: true });
  await fs.mkdir(path.join(copy, 'build'));
  await fs.copyFile(path.join(ROOT, 'bin/tsula'), path.join(copy, 'bin/tsula'));
  for (const f of ['tsula.mjs', 'cli', 'lib', 'tsula.blob']) await fs.symlink(path.join(ROOT, 'build', f), path.join(copy, 'build', f));
  const key = path.join(copy, 'build/tsula.blob.key');
  const realKey = path.join(ROOT, 'build/tsula.blob.key');
  const launcher = path.join(copy, 'bin/tsula');

  // touch -r: the key's mtime to the nanosecond (fs.utimes rounds it)
  const sameTime = () => execFileSync('touch', ['-r', realKey, key]);
  await fs.copyFile(realKey, key);
  sameTime();
  assert.equal(launch(launcher, ['--help']).via, 'snapshot', 'the copy with the same key (control)');

  await fs.writeFile(key, 'flags\t\t: fpu vme de pse tsc\n'); // another CPU's flags
  sameTime();
  let r = launch(launcher, ['--help']);
  assert.equal(r.via, 'bundle', 'another CPU');
  assert.equal(r.code, 0);
  assert.equal(r.stdout, bundle(['--help']).stdout);

  await fs.copyFile(realKey, key);
  const t = await fs.stat(realKey);
  await fs.utimes(key, t.atime, new Date(t.mtimeMs + 60_000)); // another node binary
  assert.equal(launch(launcher, ['--help']).via, 'bundle', 'another node');

  await fs.rm(key);
  r = launch(launcher, ['--help']);
  assert.equal(r.via, 'bundle', 'no key');
  assert.equal(r.stderr, '', 'a missing key is not an error worth a line');
});

test('installed as scripts/install.sh installs it (a copy naming its build) or through a symlink, it finds its build', async () => {
  const installed = path.join(scratch, 'installed-tsula');
  const text = await fs.readFile(path.join(ROOT, 'bin/tsula'), 'utf8');
  assert.match(text, /^TSULA_BUILD=$/m, 'the line install.sh fills in');
  await fs.writeFile(installed, text.replace(/^TSULA_BUILD=$/m, `TSULA_BUILD='${path.join(ROOT, 'build')}'`), { mode: 0o755 });
  const link = path.join(scratch, 'linked-tsula');
  await fs.symlink(path.join(ROOT, 'bin/tsula'), link);
  for (const launcher of [installed, link]) {
    const r = launch(launcher, ['-v']);
    assert.equal(r.via, 'snapshot', launcher);
    assert.deepEqual({ code: r.code, stdout: r.stdout }, { code: 0, stdout: bundle(['-v']).stdout });
  }
  // the copy runs nothing but node: no readlink, no subshell
  const trace = spawnSync('strace', ['-f', '-qq', '-e', 'trace=execve,clone,fork,vfork', installed, '-v'], { encoding: 'utf8' });
  if (trace.error) return; // no strace here: the rest stands
  const calls = trace.stderr.split('\n').filter((l) => /execve\(|clone|fork/.test(l) && !/ENOENT/.test(l));
  assert.equal(calls.filter((l) => /clone|fork/.test(l) && !/CLONE_THREAD|CLONE_VM/.test(l)).length, 0, calls.join('\n'));
});

test('a stdout that cannot be written (a full disk) is docker\'s one line and exit 1, not a trace', () => {
  for (const args of [['--help'], ['run', '--help']]) {
    const r = spawnSync('sh', ['-c', `exec "$0" "$@" > /dev/full`, TSULA, ...args], { encoding: 'utf8', env: { ...process.env, TSULA_HOST: NOWHERE() } });
    assert.deepEqual({ code: r.status, stderr: r.stderr }, { code: 1, stderr: 'write /dev/stdout: no space left on device\n' }, `tsula ${args.join(' ')}`);
  }
});
