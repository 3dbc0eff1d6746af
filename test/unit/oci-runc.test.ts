// Proves the spec buildSpec writes is one runc accepts on this machine (cgroups v1 hybrid,
// root without CAP_SYS_RESOURCE), by running real runc over a busybox rootfs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSpec, readHostInfo, type SpecOptions } from '../../src/oci/spec.js';
import { resolveUser } from '../../src/oci/user.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';
requirePrerequisites('oci-runc', { root: true, files: { [RUNC]: 'runc', [BUSYBOX]: 'busybox-static' } });

function run(cmd: string, args: string[], timeoutMs = 30000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, out, err }); });
  });
}

async function makeRootfs(dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
  await fs.mkdir(path.join(dir, 'etc'), { recursive: true });
  await fs.copyFile(BUSYBOX, path.join(dir, 'bin/busybox'));
  await fs.chmod(path.join(dir, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true', 'echo', 'cat', 'grep', 'id', 'touch', 'unshare']) {
    await fs.symlink('busybox', path.join(dir, 'bin', a));
  }
  await fs.writeFile(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n');
  await fs.writeFile(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\naudio:x:29:nobody\n');
}

async function runInRunc(tmp: string, over: Partial<SpecOptions>, script: string) {
  const id = `tsula-oci-test-${randomBytes(4).toString('hex')}`;
  const bundle = path.join(tmp, id);
  const stateRoot = path.join(tmp, 'runc-state');
  await fs.mkdir(bundle, { recursive: true });
  const host = await readHostInfo();
  const spec = buildSpec({
    id, rootfs: path.join(tmp, 'rootfs'), readonlyRootfs: false, args: ['/bin/sh', '-c', script], env: [], cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] }, terminal: false, hostname: id.slice(0, 20), binds: [],
    network: 'none', annotations: { 'org.tsula.test': '1' }, ulimits: [], noNewPrivileges: true,
    cgroupsPath: `/${id}`, limits: { memory: { limit: 64 * 1024 * 1024 }, cpu: { quota: 50000, period: 100000 }, pids: { limit: 64 } }, ...over,
  }, host);
  await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  try {
    return await run(RUNC, ['--root', stateRoot, 'run', '--bundle', bundle, id]);
  } finally {
    await run(RUNC, ['--root', stateRoot, 'delete', '-f', id]).catch(() => undefined);
  }
}

test('runc accepts the spec and runs a container with Docker\'s defaults', async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-oci-runc-'));
  try {
    await makeRootfs(path.join(tmp, 'rootfs'));
    const data = path.join(tmp, 'data');
    await fs.mkdir(data);
    await fs.writeFile(path.join(data, 'hello'), 'from-host\n');
    const script = [
      'echo ok', 'cat /proc/self/status | grep Cap', 'ulimit -n', 'cat /data/hello',
      'touch /data/x 2>/dev/null && echo data-rw || echo data-ro',
      'unshare -n true 2>/dev/null && echo unshare-ok || echo unshare-denied',
      'cat /proc/kcore >/dev/null 2>&1 && echo kcore-read || echo kcore-masked',
    ].join('; ');
    const r = await runInRunc(tmp, { binds: [{ source: data, destination: '/data', readonly: true }] }, script);
    assert.equal(r.code, 0, `runc failed: ${r.err}`);
    const lines = r.out.split('\n');
    assert.equal(lines[0], 'ok');
    assert.match(r.out, /CapBnd:\s*00000000a80425fb/); // Docker's default set
    assert.match(r.out, /CapEff:\s*00000000a80425fb/);
    assert.match(r.out, /CapInh:\s*0000000000000000/);
    const nofile = (await readHostInfo()).rlimits.get('RLIMIT_NOFILE')!.hard;
    assert.ok(lines.includes(String(Math.min(nofile, 1048576))), `nofile clamped: ${r.out}`);
    assert.ok(lines.includes('from-host'));
    assert.ok(lines.includes('data-ro'));
    assert.ok(lines.includes('unshare-denied'), 'seccomp/caps block unshare');
    assert.ok(lines.includes('kcore-masked'));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test('runc runs a readonly rootfs as a resolved non-root user', async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-oci-runc-'));
  try {
    await makeRootfs(path.join(tmp, 'rootfs'));
    const user = await resolveUser(path.join(tmp, 'rootfs'), 'nobody');
    const r = await runInRunc(tmp, { user, readonlyRootfs: true, network: 'host', ulimits: [{ name: 'nofile', soft: 100, hard: 200 }] },
      'id; ulimit -n; touch /x 2>/dev/null && echo root-rw || echo root-ro; grep CapEff /proc/self/status');
    assert.equal(r.code, 0, `runc failed: ${r.err}`);
    assert.match(r.out, /uid=65534\(nobody\) gid=65534\(nogroup\) groups=29\(audio\)/);
    assert.match(r.out, /^100$/m);
    assert.match(r.out, /root-ro/);
    assert.match(r.out, /CapEff:\s*0000000000000000/, 'a non-root user keeps no effective caps');
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
