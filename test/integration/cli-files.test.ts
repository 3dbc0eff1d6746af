// tsula's own cp, commit, diff, export, import, port and stats against one private tsulad, side
// by side with the stock docker CLI (20.10) on the same containers: the same lines, the same
// images.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerEnv } from '../helpers/docker-cli.js';
import { createTestNet, dockerNetConfig, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('cli-files', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
let tn: TestNet;
let dir: string;
before(async () => {
  dockerCliPath();
  // ports are published on the default bridge: the test's own, as in docker-cli-net
  tn = await createTestNet('files');
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn) });
  await d.loadBusybox();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-cli-files-'));
  await d.ok(['run', '-d', '--name', 'wc', '-p', '18080:80', '-p', '127.0.0.1:19090:90/udp', 'busybox', 'sh', '-c', 'echo x > /new; rm /etc/group; sleep 300']);
  // the changes are there once the shell ran them
  for (let i = 0; i < 100 && (await d.cli(['exec', 'wc', 'sh', '-c', 'test -e /new && ! test -e /etc/group'])).code !== 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
});
after(async () => {
  if (d?.proc) await d.cli(['rm', '-f', 'wc']).catch(() => undefined);
  await d?.destroy();
  await tn?.destroy();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const same = async (args: string[]) => {
  const [t, k] = await Promise.all([d.cli(args), docker(d, args)]);
  assert.deepEqual({ code: t.code, stdout: t.stdout, stderr: t.stderr.replace(/^tsula: /, '') }, { code: k.code, stdout: k.stdout, stderr: k.stderr }, `${args.join(' ')}`);
  return t;
};

test('port and diff: the lines docker prints, and its error for a port not published', async () => {
  // docker 20.10 prints the mappings in Go's map order (random); tsula sorts them by port
  const [all, theirs] = await Promise.all([d.cli(['port', 'wc']), docker(d, ['port', 'wc'])]);
  assert.equal(all.stdout, '80/tcp -> 0.0.0.0:18080\n90/udp -> 127.0.0.1:19090\n');
  assert.deepEqual(theirs.stdout.split('\n').filter(Boolean).sort(), ['80/tcp -> 0.0.0.0:18080', '90/udp -> 127.0.0.1:19090']);
  assert.equal((await same(['port', 'wc', '80'])).stdout, '0.0.0.0:18080\n');
  assert.equal((await same(['port', 'wc', '90/udp'])).stdout, '127.0.0.1:19090\n');
  const none = await d.cli(['port', 'wc', '81']);
  assert.equal(none.code, 1);
  assert.equal(none.stderr, "Error: No public port '81/tcp' published for wc\n");
  assert.equal((await same(['diff', 'wc'])).stdout, 'C /etc\nD /etc/group\nA /new\n');
  assert.equal((await d.ok(['container', 'diff', 'wc'])), 'C /etc\nD /etc/group\nA /new\n');
});

test('commit with changes, author and message; export, then import (a file, stdin) with changes', async () => {
  const id = (await d.ok(['commit', '-c', 'CMD ["cat","/new"]', '-a', 'me', '-m', 'msg', 'wc', 'mine:v1'])).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await d.ok(['run', '--rm', 'mine:v1']), 'x\n');
  assert.equal(await d.ok(['inspect', '-f', '{{.Id}} {{.Author}} {{.Comment}}', 'mine:v1']), `${id} me msg\n`);
  const digestRef = await d.cli(['commit', 'wc', `x@sha256:${'0'.repeat(64)}`]);
  assert.equal(digestRef.code, 1);
  assert.match(digestRef.stderr, /refusing to create a tag with a digest reference/);

  const tar = path.join(dir, 'w.tar');
  await d.ok(['export', '-o', tar, 'wc']);
  // -o to a device or a FIFO writes into it: /dev/null stays /dev/null (a rename over it made it a file)
  const fifo = path.join(dir, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const drained = fs.readFile(fifo);
  await d.ok(['save', '-o', fifo, 'mine:v1']);
  assert.ok((await drained).length > 1024, 'the archive came through the FIFO');
  assert.ok((await fs.stat(fifo)).isFIFO(), 'the FIFO is still one');
  const fromFile = (await d.ok(['import', '-c', 'ENV B=2', '-m', 'from a file', tar, 'fs:1'])).trim();
  assert.match(fromFile, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await d.ok(['run', '--rm', 'fs:1', 'sh', '-c', 'echo $B; cat /new; test -e /etc/group || echo gone']), '2\nx\ngone\n');
  assert.equal(await d.ok(['image', 'inspect', '-f', '{{.Comment}} {{.Parent}}', 'fs:1']), 'from a file \n');
  const fromStdin = await d.cli(['import', '-', 'fs:2'], { input: await fs.readFile(tar) });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal(await d.ok(['run', '--rm', 'fs:2', 'cat', '/new']), 'x\n');
  const missing = await d.cli(['import', path.join(dir, 'nope.tar')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /open .*nope\.tar: no such file or directory/);
});

test('stats --no-stream: docker\'s table, one row per running container (-a: every one), a --format, a missing one', async () => {
  await d.ok(['create', '--name', 'idle', 'busybox', 'true']);
  try {
    const cols = (out: string) => out.split('\n').filter(Boolean).map((l) => l.split(/ {2,}/));
    const [mine, theirs] = await Promise.all([d.ok(['stats', '--no-stream']), docker(d, ['stats', '--no-stream'])]);
    assert.deepEqual(cols(mine)[0], cols(theirs.stdout)[0]);
    assert.deepEqual(cols(mine).slice(1).map((r) => [r[1], r[7]]), [['wc', '1']]);
    assert.match(cols(mine)[1]![3]!, /^[\d.]+[KMG]?i?B \/ [\d.]+[KMGT]iB$/);
    const every = cols(await d.ok(['stats', '-a', '--no-stream'])).slice(1).map((r) => r[1]).sort();
    assert.deepEqual(every, ['idle', 'wc']);
    assert.equal(await d.ok(['container', 'stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}}', 'wc']), 'wc 1\n');
    const missing = await d.cli(['stats', '--no-stream', 'nope']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'Error response from daemon: No such container: nope\n']);
  } finally {
    await d.cli(['rm', '-f', 'idle']);
  }
});

test('stats, streaming and without names: follows containers as they start and die, as docker stats does', async () => {
  const rows = (out: string) => new Set(out.split('\n').filter((l) => /^[0-9a-f]{12} /.test(l)).map((l) => l.split(/ {2,}/)[1]));
  const mine = d.spawnCli(['stats', '--format', 'table {{.ID}}  {{.Name}}']);
  // docker's too, watched as it draws: it lists the running ones once it has subscribed to
  // the events that tell it of the others (a container started before both are done is seen
  // by neither, its own race: under load that took longer than tsula's first screen)
  const theirs = spawn(dockerCliPath(), ['stats', '--format', 'table {{.ID}}  {{.Name}}'], { env: dockerEnv(d), stdio: ['ignore', 'pipe', 'pipe'] });
  let theirOut = '';
  theirs.stdout!.on('data', (b: Buffer) => { theirOut += b.toString(); });
  theirs.stderr!.on('data', (b: Buffer) => { theirOut += b.toString(); });
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 150 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(ok(), `${what}:\n${mine.stdout().slice(-600)}\ndocker stats:\n${theirOut.slice(-400)}`);
  };
  try {
    await until('the running one', () => rows(mine.stdout()).has('wc') && rows(theirOut).has('wc'));
    await d.ok(['run', '-d', '--name', 'later', 'busybox', 'sleep', '300']);
    await until('one started meanwhile', () => rows(mine.stdout().slice(mine.stdout().lastIndexOf('CONTAINER ID'))).has('later')
      && rows(theirOut.slice(theirOut.lastIndexOf('CONTAINER ID'))).has('later'));
    await d.ok(['stop', '-t', '0', 'later']);
    const at = mine.stdout().length;
    await until('the one that died dropped', () => {
      const last = mine.stdout().slice(Math.max(at, mine.stdout().lastIndexOf('CONTAINER ID')));
      return last.includes('\n') && last.indexOf('CONTAINER ID') >= 0 && !rows(last).has('later') && rows(last).has('wc');
    });
  } finally {
    mine.proc.kill('SIGINT');
    theirs.kill('SIGINT');
    await mine.done;
    await d.cli(['rm', '-f', 'later']);
  }
});

test('cp both ways as docker cp copies: into and out of directories, renames, a tar with -; docker\'s errors', async () => {
  const w = path.join(dir, 'cp');
  await fs.mkdir(path.join(w, 'ldir', 'sub'), { recursive: true });
  await fs.writeFile(path.join(w, 'local.txt'), 'local\n');
  await fs.writeFile(path.join(w, 'ldir', 'sub', 'a'), 'a\n');
  await fs.symlink('sub/a', path.join(w, 'ldir', 'link'));
  // a hard link: its target rebased as the names are, also for SRC/. (iSulad's cp.sh)
  await fs.link(path.join(w, 'ldir', 'sub', 'a'), path.join(w, 'ldir', 'sub', 'h'));
  const run = (who: 't' | 'k', args: string[]) => (who === 't' ? d.cli(['cp', ...args]) : docker(d, ['cp', ...args]));
  // absolute symlinks come out as they are (node-tar would strip their /)
  await d.ok(['exec', 'wc', 'sh', '-c', 'mkdir -p /d1 && echo f > /d1/f && ln -sf /d1/f /d1/abs && ln -sf ../etc/hostname /d1/rel']);
  for (const who of ['t', 'k'] as const) {
    const out = path.join(w, who);
    await fs.mkdir(out);
    // a destination that is a symlink (to one) is followed (iSulad's cp.sh): t2 -> ./t1 -> target
    await d.ok(['exec', 'wc', 'sh', '-c', `mkdir -p /tmp/${who}/into /tmp/${who}/links && cd /tmp/${who}/links && ln -s ./t1 t2 && ln -s target t1`]);
    for (const args of [
      [`${path.join(w, 'ldir')}/.`, `wc:/tmp/${who}/into`], [`${path.join(w, 'ldir')}/.`, `wc:/tmp/${who}/fresh`],
      [path.join(w, 'ldir'), `wc:/tmp/${who}/slashed/`], [path.join(w, 'local.txt'), `wc:/tmp/${who}/links/t2`],
    ]) {
      const r = await run(who, args);
      assert.equal(r.code, 0, `${who === 't' ? 'tsula' : 'docker'} cp ${args.join(' ')}: ${r.stderr}`);
    }
    for (const args of [
      ['wc:/etc/hostname', `${out}/`], ['wc:/etc/hostname', `${out}/hn`], ['wc:/etc', `${out}/etc2`], ['wc:/etc', out],
      ['wc:/bin/sh', `${out}/sh-link`], ['-L', 'wc:/bin/sh', `${out}/sh-file`], ['-L', 'wc:/bin/sh', `${out}/`],
      [path.join(w, 'local.txt'), `wc:/tmp/${who}/`], [path.join(w, 'local.txt'), `wc:/tmp/${who}/renamed.txt`],
      [path.join(w, 'ldir'), `wc:/tmp/${who}/newdir`], [path.join(w, 'ldir'), `wc:/tmp/${who}`],
      ['wc:/d1', out], ['wc:/d1', `${out}/d1copy`],
    ]) {
      const r = await run(who, args);
      assert.equal(r.code, 0, `${who === 't' ? 'tsula' : 'docker'} cp ${args.join(' ')}: ${r.stderr}`);
    }
  }
  // what each CLI copied, host side and container side, is the same tree
  const tree = async (root: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await fs.readdir(root, { recursive: true, withFileTypes: true })) {
      const p = path.relative(root, path.join(e.parentPath ?? e.path, e.name));
      out.push(`${p} ${e.isSymbolicLink() ? `-> ${await fs.readlink(path.join(root, p))}` : e.isDirectory() ? 'dir' : await fs.readFile(path.join(root, p), 'utf8')}`);
    }
    return out.sort();
  };
  assert.deepEqual(await tree(path.join(w, 't')), await tree(path.join(w, 'k')));
  assert.equal(await fs.readlink(path.join(w, 't', 'd1', 'abs')), '/d1/f');
  assert.equal(await fs.readlink(path.join(w, 't', 'd1copy', 'abs')), '/d1/f');
  assert.ok((await fs.lstat(path.join(w, 't', 'sh-link'))).isSymbolicLink());
  assert.ok((await fs.lstat(path.join(w, 't', 'sh-file'))).isFile());
  assert.ok((await fs.lstat(path.join(w, 't', 'sh'))).isFile());
  const inside = (who: string) => d.ok(['exec', 'wc', 'sh', '-c', `cd /tmp/${who} && find . | sort && cat renamed.txt newdir/sub/a && readlink ldir/link`]);
  assert.equal(await inside('t'), await inside('k'));
  assert.match(await inside('t'), /\.\/ldir\/link\n.*\.\/newdir\/sub\/a\n.*local\na\nsub\/a\n$/s);
  // SRC/. is SRC's content; the symlinks stay, the file behind them got the copy
  assert.equal(await d.ok(['exec', 'wc', 'sh', '-c', 'cd /tmp/t && ls into fresh slashed && readlink links/t2 && cat links/target']), 'fresh:\nlink\nsub\n\ninto:\nlink\nsub\n\nslashed:\nlink\nsub\n./t1\nlocal\n');
  const inodes = await d.ok(['exec', 'wc', 'sh', '-c', 'cd /tmp/t && for d in into fresh slashed newdir; do stat -c %i $d/sub/a $d/sub/h; done']);
  const pairs = inodes.trim().split('\n');
  for (let i = 0; i < pairs.length; i += 2) assert.equal(pairs[i], pairs[i + 1], `hard link kept: ${inodes}`);
  // a tar both ways
  const [mine, theirs] = await Promise.all([d.cli(['cp', 'wc:/etc/passwd', '-']), docker(d, ['cp', 'wc:/etc/passwd', '-'])]);
  assert.equal(mine.stdout, theirs.stdout);
  execFileSync('tar', ['-C', w, '-cf', path.join(w, 'in.tar'), 'local.txt']);
  const fromTar = await d.cli(['cp', '-', 'wc:/var/'], { input: await fs.readFile(path.join(w, 'in.tar')) });
  assert.equal(fromTar.code, 0, fromTar.stderr);
  assert.equal(await d.ok(['exec', 'wc', 'cat', '/var/local.txt']), 'local\n');
  // docker's words for what cannot be done
  for (const args of [
    [path.join(w, 'nope'), 'wc:/tmp'], ['nocont:/etc', w], ['wc:/nope', w], [path.join(w, 'ldir'), 'wc:/etc/passwd'],
    ['wc:/etc', path.join(w, 'local.txt')], [path.join(w, 'a'), path.join(w, 'b')], ['wc:/etc/passwd', path.join(w, 'nodir', 'x')],
    ['wc:/etc/passwd', `${path.join(w, 'nodir')}/`], [path.join(w, 'local.txt'), 'wc:/nodir/x'], [path.join(w, 'local.txt'), 'wc:/nodir/'],
    // a destination whose stat fails counts as missing (docker's copyToContainer)
    [path.join(w, 'local.txt'), 'wc:/etc/passwd/'], [path.join(w, 'local.txt'), 'wc:/etc/passwd/nonexists'],
    // a directory over a file: the daemon's refusal every time, not the upload's broken pipe
    ...Array.from({ length: 5 }, () => [path.join(w, 'ldir'), 'wc:/tmp/t/links/target']),
  ]) {
    const [t, k] = [await run('t', args), await run('k', args)];
    assert.deepEqual([t.code, t.stderr], [k.code, k.stderr], `cp ${args.join(' ')}`);
  }
});

test("run and create: docker's error lines and exit codes, -d's ID before a failed start, health flags, --cidfile", async () => {
  const tsulaWords = (s: string) => s.replace(/docker/g, 'tsula');
  for (const args of [
    ['run', '--rm', 'busybox', 'nosuchcmd'], ['run', '--rm', 'busybox', '/etc'], ['run', '--rm', '-m', '1k', 'busybox', 'true'],
    ['create', '-m', '1k', 'busybox'], ['run', '--rm', '--restart', 'always', 'busybox', 'true'], ['run', '--restart', 'bogus', 'busybox', 'true'],
    ['create', '--restart', 'bogus', 'busybox', 'true'], ['run', '--restart', 'on-failure:x', 'busybox'], ['run', '-a', 'stdout', '-d', 'busybox', 'true'],
    ['run', '--env-file', path.join(dir, 'nope.env'), 'busybox', 'true'], ['run', '-v', 'a:b:c:d', 'busybox', 'true'],
    ['run', '--no-healthcheck', '--health-cmd', 'true', 'busybox', 'true'], ['run', '--health-interval', '-1s', 'busybox', 'true'],
  ]) {
    const [t, k] = [await d.cli(args), await docker(d, args)];
    assert.deepEqual([t.code, t.stdout, t.stderr], [k.code, k.stdout, tsulaWords(k.stderr)], args.join(' '));
  }
  assert.match((await d.cli(['run', '--rm', 'busybox', 'nosuchcmd'])).stderr, /^tsula: Error response from daemon: failed to .*: unknown\.\n$/);

  // -d: the ID is printed once the container exists, then the start fails
  for (const cli of [(a: string[]) => d.cli(a), (a: string[]) => docker(d, a)]) {
    const r = await cli(['run', '-d', 'busybox', 'nosuchcmd']);
    assert.equal(r.code, 127);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    await d.ok(['rm', r.stdout.trim()]);
  }

  // what the container gets: the healthcheck, create's attached streams and StdinOnce
  const fmt = '{{json .Config.Healthcheck}} {{.Config.AttachStdout}} {{.Config.StdinOnce}}';
  for (const flags of [['--health-cmd', 'exit 0', '--health-interval', '500ms', '-i'], ['--no-healthcheck']]) {
    const mine = (await d.ok(['create', ...flags, 'busybox', 'cat'])).trim();
    const theirs = (await docker(d, ['create', ...flags, 'busybox', 'cat'])).stdout.trim();
    try {
      assert.equal(await d.ok(['inspect', '-f', fmt, mine]), await d.ok(['inspect', '-f', fmt, theirs]), flags.join(' '));
      assert.equal((await d.ok(['inspect', '-f', '{{json .Config}}', mine])).replace(/[0-9a-f]{12}/, 'H'),
        (await d.ok(['inspect', '-f', '{{json .Config}}', theirs])).replace(/[0-9a-f]{12}/, 'H'));
    } finally {
      await d.ok(['rm', mine, theirs]);
    }
  }
  assert.equal(await d.ok(['create', '--name', 'hc', '--health-cmd', 'exit 0', '--health-interval', '500ms', 'busybox', 'true'])
    .then(() => d.ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hc'])), '{"Test":["CMD-SHELL","exit 0"],"Interval":500000000}\n');
  await d.ok(['rm', 'hc']);
  // --health-start-interval is API 1.44's: sent at that version, or dockerd would drop it
  assert.equal(await d.ok(['create', '--name', 'hs', '--health-cmd', 'exit 0', '--health-start-interval', '250ms', 'busybox', 'true'])
    .then(() => d.ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hs'])), '{"Test":["CMD-SHELL","exit 0"],"StartInterval":250000000}\n');
  await d.ok(['rm', 'hs']);

  // --cidfile: the ID written; a file already there refused before anything is created
  const cid = path.join(dir, 'c.cid');
  const id = (await d.ok(['run', '-d', '--cidfile', cid, 'busybox', 'true'])).trim();
  assert.equal(await fs.readFile(cid, 'utf8'), id);
  const [t, k] = [await d.cli(['run', '--cidfile', cid, 'busybox', 'true']), await docker(d, ['run', '--cidfile', cid, 'busybox', 'true'])];
  assert.deepEqual([t.code, t.stderr], [k.code, tsulaWords(k.stderr)]);
  assert.equal(t.code, 125);
  await d.ok(['rm', id]);
});

test("update: the names, then the daemon's warnings, on stdout; --cpus refused in docker's words", async () => {
  const ids = [(await d.ok(['create', 'busybox', 'true'])).trim(), (await d.ok(['create', 'busybox', 'true'])).trim()];
  try {
    const [t, k] = [await d.cli(['update', '--kernel-memory', '10m', ids[0]!]), await docker(d, ['update', '--kernel-memory', '10m', ids[1]!])];
    assert.deepEqual([t.code, t.stdout.replace(ids[0]!, 'ID'), t.stderr], [k.code, k.stdout.replace(ids[1]!, 'ID'), k.stderr]);
    assert.match(t.stdout, /^[0-9a-f]{64}\n.*kernel memory.*\n$/);
    const [tc, kc] = [await d.cli(['update', '--cpus', 'bogus', ids[0]!]), await docker(d, ['update', '--cpus', 'bogus', ids[0]!])];
    assert.deepEqual([tc.code, tc.stderr], [kc.code, kc.stderr.replace(/docker/g, 'tsula')]);
  } finally {
    await d.ok(['rm', ...ids]);
  }
});

test('build: the context as docker sends it (.dockerignore applied, the Dockerfile kept), the same step lines and image as docker build, a failed RUN\'s code, -q', async () => {
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(path.join(ctx, 'sub'), { recursive: true });
  await fs.mkdir(path.join(ctx, 'skip'), { recursive: true });
  await fs.writeFile(path.join(ctx, 'sub/a'), 'from the context\n');
  await fs.writeFile(path.join(ctx, 'skip/x'), 'ignored\n');
  await fs.writeFile(path.join(ctx, '.dockerignore'), 'skip\nDockerfile\n');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM busybox\nARG WHO\nCOPY . /ctx/\nRUN echo "hello $WHO"; ls -a /ctx\nCMD ["cat", "/ctx/sub/a"]\n');
  const built = await d.cli(['build', '-t', 'cb:1', '--build-arg', 'WHO=tsula', ctx]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /^Sending build context to Docker daemon {2}[\d.]+kB\nStep 1\/5 : FROM busybox\n/);
  assert.match(built.stdout, /^hello tsula$/m);
  // .dockerignore's exclusions are not in the context; .dockerignore itself is (busybox ls -a)
  assert.match(built.stdout, /^\.\n\.\.\n\.dockerignore\nsub\n/m);
  assert.match(built.stdout, /^Successfully tagged cb:1$/m);
  assert.equal(await d.ok(['run', '--rm', 'cb:1']), 'from the context\n');
  // docker build of the same context: every step from the cache, the same image
  const theirs = await docker(d, ['build', '-t', 'cb:2', '--build-arg', 'WHO=tsula', ctx]);
  assert.equal(theirs.code, 0, theirs.stderr);
  assert.equal(theirs.stdout.split('\n').filter((l) => l === ' ---> Using cache').length, 4, theirs.stdout);
  const id = (ref: string) => d.ok(['image', 'inspect', '-f', '{{.Id}}', ref]);
  assert.equal(await id('cb:2'), await id('cb:1'));
  assert.equal((await d.ok(['build', '-q', '--build-arg', 'WHO=tsula', ctx])).trim(), (await id('cb:1')).trim());
  // `-` with a Dockerfile alone on stdin: a context of only it (docker's GetContextFromReader)
  const fromStdin = await d.cli(['build', '-q', '-'], { input: 'FROM busybox\nCMD ["echo", "from stdin"]\n' });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  assert.equal(await d.ok(['run', '--rm', fromStdin.stdout.trim()]), 'from stdin\n');
  await d.ok(['rmi', fromStdin.stdout.trim()]);
  // a failed RUN: its message, its code as the command's (docker's JSONError)
  await fs.writeFile(path.join(ctx, 'Dockerfile.fail'), 'FROM busybox\nRUN exit 3\n');
  const failed = await d.cli(['build', '-f', path.join(ctx, 'Dockerfile.fail'), ctx]);
  assert.equal(failed.code, 3);
  assert.match(failed.stderr, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
  // the failed step's container stays (dockerd's rm=true keeps it after a failure): removed here
  const w = (await d.ok(['inspect', '-f', '{{.Id}}', 'wc'])).slice(0, 12);
  const left = (await d.ok(['ps', '-aq'])).split('\n').filter((x) => x && x !== w);
  assert.equal(left.length, 1, 'the failed RUN\'s container');
  await d.ok(['rm', '-f', ...left]);
  await d.ok(['rmi', 'cb:1', 'cb:2']);
  // docker build's resource flags reach the RUN steps' containers; --iidfile gets the image id
  await fs.writeFile(path.join(ctx, 'Dockerfile.res'), 'FROM busybox\nRUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; df -k /dev/shm | tail -1\n');
  const iid = path.join(dir, 'iid');
  const res = await d.cli(['build', '--no-cache', '-m', '64m', '--shm-size', '8m', '--iidfile', iid, '-f', path.join(ctx, 'Dockerfile.res'), ctx]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^67108864$/m);
  assert.match(res.stdout, /^shm\s+8192\s/m);
  const written = await fs.readFile(iid, 'utf8');
  assert.match(written, /^sha256:[0-9a-f]{64}$/);
  assert.equal((await d.ok(['image', 'inspect', '-f', '{{.Id}}', written])).trim(), written);
  // with -q, docker takes what the daemon printed (its newline too): dockerd holds the aux back
  const q = await d.cli(['build', '-q', '--iidfile', iid, '-f', path.join(ctx, 'Dockerfile.res'), ctx]);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(await fs.readFile(iid, 'utf8'), `${written}\n`);
  await d.ok(['rmi', written]);
  const bad = await d.cli(['build', '-m', 'lots', ctx]);
  assert.deepEqual([bad.code, bad.stderr.split('\n')[0]], [125, 'invalid argument "lots" for "-m, --memory" flag: invalid size: \'lots\'']);
});
