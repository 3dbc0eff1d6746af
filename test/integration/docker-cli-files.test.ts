// The stock docker CLI's file commands against tsulad: cp both ways (running and stopped
// containers, symlinks that point out of the rootfs, "..", -a ownership), diff, commit,
// history, export, system df, container prune, and build's clear refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as http from 'node:http';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerEnv } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-files', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/getfattr': 'attr' } });

let d: TestDaemon;
let work: string;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
  work = path.join(d.dir, 'work');
  await fs.mkdir(work);
});
after(async () => { await d?.destroy(); });

async function ok(args: string[], input?: string): Promise<string> {
  const r = await docker(d, args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Names and contents of a tar the CLI wrote to stdout. */
function tarList(tar: string | Buffer): string[] {
  return execFileSync('tar', ['-tf', '-'], { input: tar }).toString().split('\n').filter(Boolean);
}

// links that point "out" of the rootfs live apart: the CLI itself refuses to unpack them on the host
const SETUP = '[ -e /data ] || { mkdir -p /data/sub /links && echo hello > /data/f && echo deep > /data/sub/g && ln -s /etc/../../../../etc /links/evil && ln -s ../../../.. /links/up && rm /bin/ls; }';

test('HEAD /containers/{id}/archive: X-Docker-Container-Path-Stat as dockerd marshals ContainerPathStat (Go\'s time to the nanosecond)', async () => {
  await ok(['create', '--name', 'statbox', 'busybox']);
  try {
    const head = await new Promise<string>((resolve, reject) => {
      const req = http.request({ socketPath: d.sock, method: 'HEAD', path: `/containers/statbox/archive?path=${encodeURIComponent('/bin/sh')}` }, (res) => {
        res.resume();
        resolve(String(res.headers['x-docker-container-path-stat'] ?? ''));
      });
      req.on('error', reject);
      req.end();
    });
    const st = JSON.parse(Buffer.from(head, 'base64').toString()) as { name: string; mtime: string; linkTarget: string };
    assert.equal(st.name, 'sh');
    assert.match(st.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$/, 'RFC 3339, trailing zeros dropped');
  } finally {
    await ok(['rm', 'statbox']);
  }
});

test('a running container\'s /proc, /sys and /dev are not cp\'s (dockerd\'s rootfs view: 404); commit -c checks as the builder; kill -s 32; commit\'s events in dockerd\'s order', async () => {
  const devb = path.join(work, 'devb');
  await fs.mkdir(devb, { recursive: true });
  await fs.writeFile(path.join(devb, 'f'), 'in a bind\n');
  await ok(['run', '-d', '--name', 'kfs', '-v', `${devb}:/dev/devb`, 'busybox', 'sleep', '300']);
  try {
    // a bind under /dev is in dockerd's view too: read, written, and /dev copied with it
    assert.deepEqual(tarList(await ok(['cp', 'kfs:/dev/devb/f', '-'])), ['f']);
    await fs.writeFile(path.join(work, 'g'), 'new\n');
    await ok(['cp', path.join(work, 'g'), 'kfs:/dev/devb/']);
    assert.equal(await fs.readFile(path.join(devb, 'g'), 'utf8'), 'new\n');
    assert.ok(tarList(await ok(['cp', 'kfs:/dev', '-'])).includes('dev/devb/f'));
    for (const p of ['/proc/self', '/proc/1/status', '/dev/null', '/sys/kernel']) {
      const r = await docker(d, ['cp', `kfs:${p}`, '-']);
      assert.notEqual(r.code, 0, p);
      // dockerd's 404, which docker 20.10 words as its own
      assert.match(r.stderr, new RegExp(`No such container:path: kfs:${p}|Could not find the file ${p} in container kfs`), p);
    }
    await fs.writeFile(path.join(work, 'comm'), 'x\n');
    const w = await docker(d, ['cp', path.join(work, 'comm'), 'kfs:/proc/1/']);
    assert.notEqual(w.code, 0);
    assert.doesNotMatch(w.stderr, /\/proc\/\d+\/root/, 'no host path in the error');
    // commit -c: the builder's argument checks, dockerd's words
    for (const [change, msg] of [['ENV', /ENV requires at least one argument/], ['ENV A', /ENV must have two arguments/], ['USER', /USER requires exactly one argument/],
      ['STOPSIGNAL FOO', /invalid signal: FOO/], ['VOLUME', /VOLUME requires at least one argument/]] as const) {
      const r = await docker(d, ['commit', '-c', change, 'kfs', 'bad:1']);
      assert.notEqual(r.code, 0, change);
      assert.match(r.stderr, msg, change);
    }
    // events: pause, tag, commit, unpause (the unpause deferred past the rest)
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(['commit', 'kfs', 'kfsimg:1']);
    const until = Math.floor(Date.now() / 1000) + 1;
    const evs = (await ok(['events', '--since', String(since), '--until', String(until), '--format', '{{.Type}} {{.Action}}'])).trim().split('\n')
      .filter((l) => /^(container (pause|unpause|commit)|image tag)$/.test(l));
    assert.deepEqual(evs, ['container pause', 'image tag', 'container commit', 'container unpause']);
    const k = await docker(d, ['kill', '-s', '32', 'kfs']);
    assert.match(k.stderr, /the linux daemon does not support signal 32/);
  } finally {
    await ok(['rm', '-f', 'kfs']);
  }
  await ok(['rmi', 'kfsimg:1']);
});

test('docker cp out of a running container: a file, a directory, symlinks resolved inside the rootfs', async () => {
  await ok(['run', '-d', '--name', 'src', 'busybox', 'sh', '-c', `${SETUP}; sleep 300`]);
  await waitFor(async () => (await docker(d, ['exec', 'src', 'test', '-e', '/links/up'])).code === 0);
  await ok(['cp', 'src:/data/f', path.join(work, 'f')]);
  assert.equal(await fs.readFile(path.join(work, 'f'), 'utf8'), 'hello\n');
  await ok(['cp', 'src:/data', path.join(work, 'data')]);
  assert.equal(await fs.readFile(path.join(work, 'data/sub/g'), 'utf8'), 'deep\n');
  const link = execFileSync('tar', ['-tvf', '-'], { input: execFileSync(dockerCliPath(), ['cp', 'src:/links/evil', '-'], { env: dockerEnv(d) }) }).toString();
  assert.match(link, /^l.* evil -> \/etc\/\.\.\/\.\.\/\.\.\/\.\.\/etc\n$/, 'a symlink is copied as a symlink');
  // through a link that points "out": the container's /etc, never the host's
  const hostname = (await ok(['inspect', '-f', '{{.Config.Hostname}}', 'src'])).trim();
  const viaEvil = await docker(d, ['cp', 'src:/links/evil/hostname', '-']);
  assert.equal(viaEvil.code, 0, viaEvil.stderr);
  assert.match(viaEvil.stdout, new RegExp(`${hostname}\n`));
  const passwd = execFileSync('tar', ['-xOf', '-'], { input: execFileSync(dockerCliPath(), ['cp', 'src:/links/up/etc/passwd', '-'], { env: dockerEnv(d) }) }).toString();
  assert.equal(passwd, await ok(['exec', 'src', 'cat', '/etc/passwd']), 'the container\'s passwd');
  const dotdot = await docker(d, ['cp', 'src:/../../../../etc/hostname', '-']);
  assert.match(dotdot.stdout, new RegExp(hostname));
  // -L follows the last link (still inside the rootfs)
  await ok(['cp', '-L', 'src:/links/evil', path.join(work, 'etc-copy')]);
  assert.equal((await fs.readFile(path.join(work, 'etc-copy/hostname'), 'utf8')).trim(), hostname);
  const missing = await docker(d, ['cp', 'src:/nonexistent', path.join(work, 'x')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /No such container:path: src:\/nonexistent/);
  // the whole root: the rootfs and its /etc files, not the kernel's /proc and /sys
  const root = execFileSync('tar', ['-tf', '-'], { input: execFileSync(dockerCliPath(), ['cp', 'src:/', '-'], { env: dockerEnv(d), maxBuffer: 64 << 20 }) }).toString().split('\n');
  // named from "/" as dockerd names them (moby's TestCopyFromContainer): /, /foo, ...
  for (const want of ['/', '/data/sub/g', '/etc/hostname', '/proc/', '/bin/busybox']) assert.ok(root.includes(want), `${want} in cp src:/`);
  assert.ok(!root.some((f) => f.startsWith('/proc/1') || f.startsWith('/sys/kernel')), 'no /proc or /sys contents');
  const dot = execFileSync('tar', ['-tf', '-'], { input: execFileSync(dockerCliPath(), ['cp', 'src:/.', '-'], { env: dockerEnv(d), maxBuffer: 64 << 20 }) }).toString().split('\n');
  for (const want of ['./', './data/sub/g']) assert.ok(dot.includes(want), `${want} in cp src:/.`);
});

test('docker cp into a running container: into a dir, to a new name, through a symlink (inside), the archive\'s owners kept', async () => {
  await fs.writeFile(path.join(work, 'in.txt'), 'payload\n');
  await fs.chown(path.join(work, 'in.txt'), 1234, 55);
  await ok(['cp', path.join(work, 'in.txt'), 'src:/data/']);
  await ok(['cp', path.join(work, 'in.txt'), 'src:/data/renamed']);
  await ok(['cp', '-a', path.join(work, 'in.txt'), 'src:/data/kept']);
  await ok(['cp', path.join(work, 'in.txt'), 'src:/links/evil/']);
  const ls = await ok(['exec', 'src', 'sh', '-c', 'cat /data/in.txt /data/renamed /etc/in.txt; stat -c "%u:%g %n" /data/in.txt /data/kept']);
  // the archive's owners, -a or not (dockerd's defaultTarCopyOptions; -a chowns only to a container's USER)
  assert.equal(ls, 'payload\npayload\npayload\n1234:55 /data/in.txt\n1234:55 /data/kept\n');
  await assert.rejects(fs.access('/etc/in.txt'), 'nothing lands on the host');
  // -a into a container with a user: the files are that user's, resolved as a process' is (moby's TestCopyToContainerCopyUIDGID)
  for (const [user, want] of [['7777:8888', '7777:8888'], ['7777:', '7777:0'], [':7777', '0:7777'], ['4242', '4242:0']] as const) {
    const u = (await ok(['run', '-d', '-u', user, 'busybox', 'sleep', '60'])).trim();
    await ok(['cp', '-a', path.join(work, 'in.txt'), `${u}:/tmp/`]);
    assert.equal((await ok(['exec', u, 'stat', '-c', '%u:%g', '/tmp/in.txt'])).trim(), want, user);
    await ok(['rm', '-f', u]);
  }
  const noDir = await docker(d, ['cp', path.join(work, 'in.txt'), 'src:/nope/dir/']);
  assert.notEqual(noDir.code, 0);
  // a file named with a trailing "/" is not a directory (dockerd's lstat: ENOTDIR): not
  // overwritten by a copy in, not copied out
  const intoFile = await docker(d, ['cp', path.join(work, 'in.txt'), 'src:/data/f/']);
  assert.notEqual(intoFile.code, 0);
  assert.match(intoFile.stderr, /no such directory/);
  assert.equal(await ok(['exec', 'src', 'cat', '/data/f']), 'hello\n');
  const outOfFile = await docker(d, ['cp', 'src:/data/f/', path.join(work, 'f2')]);
  assert.notEqual(outOfFile.code, 0);
  assert.match(outOfFile.stderr, /not a directory/);
  await assert.rejects(fs.access(path.join(work, 'f2')));
});

test('docker cp into the root of a running container: to a new name and into / itself', async () => {
  // its root is /proc/<pid>/root, a link: it was refused as "extraction point is not a directory"
  await fs.writeFile(path.join(work, 'top.txt'), 'top\n');
  await ok(['cp', path.join(work, 'top.txt'), 'src:/renamed-top']);
  await ok(['cp', path.join(work, 'top.txt'), 'src:/']);
  assert.equal(await ok(['exec', 'src', 'cat', '/renamed-top', '/top.txt']), 'top\ntop\n');
  await ok(['exec', 'src', 'rm', '/renamed-top', '/top.txt']);
});

test('docker diff: A/C/D of the writable layer, without the runtime\'s mountpoints', async () => {
  const diff = (await ok(['diff', 'src'])).split('\n').filter(Boolean);
  for (const l of ['C /bin', 'D /bin/ls', 'A /data', 'A /data/f', 'A /data/sub/g', 'A /links/evil', 'C /etc', 'A /etc/in.txt']) assert.ok(diff.includes(l), `${l} in\n${diff.join('\n')}`);
  assert.ok(!diff.some((l) => /\/(proc|sys|dev)\b|\/etc\/(hosts|hostname|resolv\.conf)$/.test(l)), diff.join('\n'));
  // GraphDriver as dockerd's overlay2 gives it: the writable layer's files are in UpperDir
  const gd = JSON.parse(await ok(['inspect', '-f', '{{json .GraphDriver}}', 'src']));
  assert.equal(gd.Name, 'overlay2');
  assert.deepEqual(Object.keys(gd.Data).sort(), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
  assert.equal(await fs.readFile(path.join(gd.Data.UpperDir, 'data/f'), 'utf8'), 'hello\n');
  for (const lower of gd.Data.LowerDir.split(':')) assert.ok((await fs.stat(lower)).isDirectory(), lower);
});

test('docker cp with a stopped container, both ways; the rootfs is unmounted again', async () => {
  await ok(['stop', '-t', '1', 'src']);
  await ok(['cp', 'src:/data/renamed', path.join(work, 'from-stopped')]);
  assert.equal(await fs.readFile(path.join(work, 'from-stopped'), 'utf8'), 'payload\n');
  await ok(['cp', path.join(work, 'in.txt'), 'src:/data/while-stopped']);
  // the API takes a gzipped tar as well (docker's PUT /archive: identity or gzip, ...)
  const gz = execFileSync('tar', ['-czf', '-', '-C', work, 'in.txt']);
  const put = await d.api('PUT', `/containers/src/archive?path=${encodeURIComponent('/data/sub')}`, gz, { 'Content-Type': 'application/x-tar' });
  assert.equal(put.status, 200, put.body);
  // a corrupt gzip: dockerd's 500 (its untar error is not classed), naming the cause; the daemon lives on
  for (const body of [Buffer.from([0x1f, 0x8b]), Buffer.concat([gz.subarray(0, 10), Buffer.from('garbage'.repeat(20))])]) {
    const bad = await d.api('PUT', `/containers/src/archive?path=${encodeURIComponent('/data')}`, body, { 'Content-Type': 'application/x-tar' });
    assert.equal(bad.status, 500, bad.body);
    assert.match(bad.body, /copying into src:\/data: /);
  }
  const mounts = await fs.readFile('/proc/self/mounts', 'utf8');
  assert.ok(!mounts.split('\n').some((m) => m.includes(d.graph) && m.startsWith('overlay')), 'no overlay left mounted');
  await ok(['start', 'src']);
  assert.equal(await ok(['exec', 'src', 'cat', '/data/while-stopped']), 'payload\n');
  assert.equal(await ok(['exec', 'src', 'cat', '/data/sub/in.txt']), 'payload\n');
});

test('docker cp onto symlinks in a stopped container\'s bind: their targets are written, the links stay (dockerd\'s FollowSymlinkInScope through the binds)', async () => {
  const host = await fs.mkdtemp(path.join(work, 'links-'));
  await fs.writeFile(path.join(host, 'file1'), 'file1\n');
  await fs.mkdir(path.join(host, 'dir1'));
  await fs.symlink('file1', path.join(host, 'symlinkToFile1'));
  await fs.symlink('dir1', path.join(host, 'symlinkToDir1'));
  await fs.symlink('fileX', path.join(host, 'brokenSymlinkToFileX'));
  await fs.symlink('/etc/app.conf', path.join(host, 'absolute'));
  await fs.writeFile(path.join(work, 'file2'), 'file2\n');
  const id = (await ok(['run', '-d', '-v', `${host}:/vol2`, 'busybox', 'true'])).trim();
  assert.equal((await ok(['wait', id])).trim(), '0');
  // the path stat the CLI follows: the link's target in the container (it was the link itself)
  const head = await new Promise<string>((resolve, reject) => {
    const req = http.request({ socketPath: d.sock, method: 'HEAD', path: `/containers/${id}/archive?path=${encodeURIComponent('/vol2/symlinkToFile1')}` }, (res) => {
      res.resume();
      resolve(String(res.headers['x-docker-container-path-stat'] ?? ''));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal((JSON.parse(Buffer.from(head, 'base64').toString()) as { linkTarget: string }).linkTarget, '/vol2/file1');
  await ok(['cp', path.join(work, 'file2'), `${id}:/vol2/symlinkToFile1`]);
  assert.equal(await fs.readlink(path.join(host, 'symlinkToFile1')), 'file1', 'the link stays');
  assert.equal(await fs.readFile(path.join(host, 'file1'), 'utf8'), 'file2\n');
  await ok(['cp', path.join(work, 'file2'), `${id}:/vol2/symlinkToDir1`]);
  assert.equal(await fs.readFile(path.join(host, 'dir1', 'file2'), 'utf8'), 'file2\n');
  await ok(['cp', path.join(work, 'file2'), `${id}:/vol2/brokenSymlinkToFileX`]);
  assert.equal(await fs.readlink(path.join(host, 'brokenSymlinkToFileX')), 'fileX');
  assert.equal(await fs.readFile(path.join(host, 'fileX'), 'utf8'), 'file2\n');
  // an absolute link in the bind is the container's path, not the bind's
  await ok(['cp', path.join(work, 'file2'), `${id}:/vol2/absolute`]);
  await assert.rejects(fs.stat(path.join(host, 'etc')), 'nothing written under the bind');
  await ok(['cp', `${id}:/etc/app.conf`, path.join(work, 'app.conf.out')]);
  assert.equal(await fs.readFile(path.join(work, 'app.conf.out'), 'utf8'), 'file2\n');
  await ok(['rm', id]);
});

test('docker cp and volumes: into and out of a stopped container\'s named volume (not the rootfs under it); a read-only one refused, running or not', async () => {
  await fs.writeFile(path.join(work, 'vol.txt'), 'in the volume\n');
  await ok(['create', '--name', 'withvol', '-v', 'cpvol:/vol', '-v', 'cpro:/ro:ro', 'busybox', 'sleep', '300']);
  try {
    await ok(['cp', path.join(work, 'vol.txt'), 'withvol:/vol/']);
    await ok(['cp', work, 'withvol:/vol/dir']);
    for (const running of [false, true]) {
      const r = await docker(d, ['cp', path.join(work, 'vol.txt'), 'withvol:/ro/']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /mounted volume is marked read-only/, `running: ${running}`);
      if (!running) await ok(['start', 'withvol']);
    }
    assert.equal(await ok(['exec', 'withvol', 'cat', '/vol/vol.txt', '/vol/dir/vol.txt']), 'in the volume\n'.repeat(2));
    await ok(['exec', 'withvol', 'sh', '-c', 'echo from the container > /vol/out']);
    await ok(['stop', '-t', '0', 'withvol']);
    await ok(['cp', 'withvol:/vol/out', path.join(work, 'vol-out')]);
    assert.equal(await fs.readFile(path.join(work, 'vol-out'), 'utf8'), 'from the container\n');
    // a directory above the volume and the /etc files: what the container sees (dockerd's cp
    // mounts them), not the snapshot's empty mountpoints
    const tree = execFileSync(dockerCliPath(), ['cp', 'withvol:/', '-'], { env: dockerEnv(d), maxBuffer: 64 << 20 });
    const listed = execFileSync('tar', ['-tvf', '-'], { input: tree, encoding: 'utf8' });
    assert.match(listed, / \/vol\/out\n/, 'the volume under /');
    const hostname = execFileSync('tar', ['-xOf', '-', '/etc/hostname'], { input: tree, encoding: 'utf8' });
    assert.equal(hostname, `${(await ok(['inspect', '-f', '{{.Config.Hostname}}', 'withvol'])).trim()}\n`);
    const etc = execFileSync(dockerCliPath(), ['cp', 'withvol:/etc/hosts', '-'], { env: dockerEnv(d) });
    assert.match(execFileSync('tar', ['-xOf', '-'], { input: etc, encoding: 'utf8' }), /localhost/);
    // the files are the volume's: another container sees them
    assert.equal(await ok(['run', '--rm', '-v', 'cpvol:/v', 'busybox', 'cat', '/v/vol.txt']), 'in the volume\n');
  } finally {
    await ok(['rm', '-f', 'withvol']);
    await ok(['volume', 'rm', 'cpvol', 'cpro']);
  }
});

test('docker commit: the changes (deletions too) and -c config in a new image; history; run it', async () => {
  const id = (await ok(['commit', '-c', 'CMD ["cat", "/data/f"]', '-c', 'ENV FOO=bar', '-c', 'USER nobody', '-m', 'snap', '-a', 'tester', 'src', 'snap:v1'])).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const hist = (await ok(['history', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}', 'snap:v1'])).trim().split('\n');
  assert.equal(hist.length, 2, hist.join('\n'));
  assert.match(hist[0]!, /^[0-9a-f]{12}\|sh -c \[ -e \/data \] .*\|\d+(\.\d+)?k?B\|snap$/);
  // the parent's row has the parent's id, as dockerd fills it in from the commit's parent
  assert.match(hist[1]!, /^0b370d19aa29\|busybox-static/);
  const cfg = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config}}', 'snap:v1'])) as { Cmd: string[]; Env: string[]; User: string };
  assert.deepEqual(cfg.Cmd, ['cat', '/data/f']);
  assert.ok(cfg.Env.includes('FOO=bar'));
  assert.equal(cfg.User, 'nobody');
  // dockerd records its own version and the -a author in the image
  const meta = (await ok(['image', 'inspect', '-f', '{{.DockerVersion}}|{{.Author}}|{{.Comment}}', 'snap:v1'])).trim();
  const server = (await ok(['version', '-f', '{{.Server.Version}}'])).trim();
  assert.equal(meta, `${server}|tester|snap`);
  // the image's USER applies unless -u says otherwise (the CLI always sends User, "" when unset)
  await ok(['run', '-d', '--name', 'fromsnap', 'snap:v1', 'sh', '-c', 'cat /data/f; echo $FOO; ls /bin/ls || echo gone; id -un']);
  await waitFor(async () => (await ok(['inspect', '-f', '{{.State.Status}}', 'fromsnap'])).trim() === 'exited');
  assert.equal(await ok(['logs', 'fromsnap']), 'hello\nbar\ngone\nnobody\n');
  assert.equal((await ok(['inspect', '-f', '{{.Config.User}}', 'fromsnap'])).trim(), 'nobody');
  assert.equal((await ok(['run', '--rm', '-u', '0', 'snap:v1', 'id', '-u'])).trim(), '0');
  // the ancestor filter finds containers of images made from it (dockerd's populateImageFilterByParents)
  assert.ok((await ok(['ps', '-a', '--filter', 'ancestor=busybox', '--format', '{{.Names}}'])).split('\n').includes('fromsnap'));
  assert.equal((await ok(['ps', '-a', '--filter', 'ancestor=snap:v1', '--format', '{{.Names}}'])).trim(), 'fromsnap');
});

test('docker export: the rootfs as a tar; docker system df; docker container prune', async () => {
  const tar = execFileSync(dockerCliPath(), ['export', 'src'], { env: dockerEnv(d), maxBuffer: 64 << 20 });
  const names = tarList(tar);
  for (const n of ['bin/sh', 'data/f', 'data/sub/g', 'etc/passwd']) assert.ok(names.includes(n), n);
  assert.ok(!names.includes('bin/ls'), 'deleted files are not exported');

  const df = await ok(['system', 'df']);
  assert.match(df, /^Images\s+2\s+2\s+/m);
  assert.match(df, /^Containers\s+2\s+1\s+/m);
  const sizes = await ok(['ps', '-a', '-s', '--format', '{{.Names}} {{.Size}}']);
  assert.match(sizes, /^src [1-9]\d*B \(virtual [\d.]+MB\)$/m);

  await ok(['create', '--name', 'labelled', '--label', 'keep=yes', 'busybox']);
  const pruned = await ok(['container', 'prune', '-f', '--filter', 'label!=keep']);
  assert.match(pruned, /Deleted Containers:\n[0-9a-f]{64}\n/);
  const left = (await ok(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
  assert.deepEqual(left, ['labelled', 'src']);
});

test('docker build with BuildKit (DOCKER_BUILDKIT=1) is refused saying what to do instead; the classic builder is docker-cli-build\'s', async () => {
  const ctx = path.join(work, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox\n');
  const r = await new Promise<{ code: number; stderr: string }>((resolve) => execFile(dockerCliPath(), ['build', ctx], { env: { ...dockerEnv(d), DOCKER_BUILDKIT: '1' }, timeout: 60_000 },
    (e, _o, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stderr })));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /BuildKit is not supported by tsulad: build with the classic builder \(DOCKER_BUILDKIT=0/);
});

async function waitFor(cond: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
