// The stock docker CLI's `docker build` (the classic builder, DOCKER_BUILDKIT=0) against
// tsulad, as against dockerd 20.10's legacy builder: the step lines and ids, a multi-stage
// build whose result runs, the cache (hits, a miss after a context change, --no-cache),
// .dockerignore, --build-arg and the unused-arg warning, a failing RUN (its message, exit
// status and container), -q, a parse error, a missing COPY source, history and image lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-build', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => {
  await d?.destroy();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

/** A build context directory with these files. */
async function context(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(d.dir, 'ctx', name);
  await fs.rm(dir, { recursive: true, force: true });
  for (const [f, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await fs.writeFile(path.join(dir, f), text);
  }
  return dir;
}

const MULTI = `FROM busybox AS build
ENV GREETING=hello
WORKDIR /src
COPY msg.txt ./
RUN echo "$GREETING $(cat msg.txt)" > out.txt && echo to-stderr >&2

FROM busybox
WORKDIR /app
COPY --from=build /src/out.txt .
CMD ["cat", "/app/out.txt"]
`;

test('a multi-stage build: dockerd\'s step lines, a result that runs, history and image lists', async () => {
  const dir = await context('multi', { Dockerfile: MULTI, 'msg.txt': 'world\n' });
  const out = await ok(['build', '-t', 'multi:1', dir]);
  const short = '[0-9a-f]{12}';
  assert.match(out, new RegExp(`^Sending build context to Docker daemon .*\r*\nStep 1/9 : FROM busybox AS build\n ---> 0b370d19aa29\n`));
  assert.match(out, new RegExp(`Step 2/9 : ENV GREETING=hello\n ---> Running in (${short})\nRemoving intermediate container \\1\n ---> ${short}\n`));
  assert.match(out, new RegExp(`Step 4/9 : COPY msg.txt ./\n ---> ${short}\n`), 'COPY makes no container');
  assert.match(out, new RegExp(`Step 5/9 : RUN .*\n ---> Running in (${short})\n\u001b\\[91mto-stderr\n\u001b\\[0mRemoving intermediate container \\1\n`));
  assert.match(out, new RegExp(`Step 9/9 : CMD \\["cat", "/app/out.txt"\\]\n ---> Running in ${short}\nRemoving intermediate container ${short}\n ---> (${short})\nSuccessfully built \\1\nSuccessfully tagged multi:1\n$`));
  assert.equal(await ok(['run', '--rm', 'multi:1']), 'hello world\n');
  assert.equal(await ok(['ps', '-aq']), '', 'no intermediate container is left');

  const history = await ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Size}}', 'multi:1']);
  const rows = history.trim().split('\n');
  assert.equal(rows[0], '/bin/sh -c #(nop)  CMD ["cat" "/app/out.txt"]|0B');
  assert.match(rows[1]!, /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \. \|\d+B$/);
  assert.equal(rows[2], '/bin/sh -c #(nop) WORKDIR /app|0B');
  const cfg = JSON.parse(await ok(['image', 'inspect', '--format', '{{json .Config}}', 'multi:1'])) as Record<string, unknown>;
  assert.deepEqual([cfg.Cmd, cfg.WorkingDir], [['cat', '/app/out.txt'], '/app']);

  // the step images are the result's parents: only `-a` lists them
  const plain = await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']);
  const all = await ok(['images', '-a', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.ok(all.split('\n').filter((l) => l === '<none>:<none>').length > plain.split('\n').filter((l) => l === '<none>:<none>').length + 3, `${plain}\n--\n${all}`);
  assert.match(plain, /^multi:1$/m);
});

test('the cache: a second build uses it, a changed context file misses from its COPY on, --no-cache, --cache-from', async () => {
  const files = { Dockerfile: 'FROM busybox\nENV A=1\nCOPY f.txt /f.txt\nRUN cat /f.txt\n', 'f.txt': 'one\n' };
  const dir = await context('cache', files);
  const first = await ok(['build', '-q', dir]);
  const again = await ok(['build', dir]);
  assert.equal((again.match(/ ---> Using cache\n/g) ?? []).length, 3, again);
  assert.match(again, new RegExp(`Successfully built ${first.slice(7, 19)}\n`));
  await fs.writeFile(path.join(dir, 'f.txt'), 'two\n');
  const changed = await ok(['build', dir]);
  assert.match(changed, /Step 2\/4 : ENV A=1\n ---> Using cache\n/);
  assert.match(changed, /Step 3\/4 : COPY f.txt \/f.txt\n ---> [0-9a-f]{12}\n/, 'the COPY misses');
  assert.match(changed, /Step 4\/4 : RUN cat \/f.txt\n ---> Running in [0-9a-f]{12}\ntwo\n/);
  const none = await ok(['build', '--no-cache', dir]);
  assert.doesNotMatch(none, /Using cache/);
  // --cache-from: only those images (and their ancestors) are cache sources, as dockerd's
  // ImageCache: a name that is not here leaves none; the first build's tag brings its steps back
  await fs.writeFile(path.join(dir, 'f.txt'), 'one\n');
  await ok(['tag', first.trim(), 'cachesrc:1']);
  const unknown = await ok(['build', '--cache-from', 'nosuch:1', dir]);
  assert.doesNotMatch(unknown, /Using cache/);
  const from = await ok(['build', '--cache-from', 'cachesrc:1', dir]);
  assert.equal((from.match(/ ---> Using cache\n/g) ?? []).length, 3, from);
  await ok(['rmi', 'cachesrc:1']);
});

test('.dockerignore keeps files out of the context, `!` brings one back', async () => {
  const dir = await context('ignore', {
    Dockerfile: 'FROM busybox\nCOPY . /ctx/\nCMD ["sh", "-c", "cd /ctx && find . -type f | sort"]\n',
    '.dockerignore': '*.log\nsecret/\n!keep.log\n',
    'a.txt': 'a', 'x.log': 'x', 'keep.log': 'k', 'secret/key': 's',
  });
  await ok(['build', '-t', 'ignore:1', dir]);
  assert.equal(await ok(['run', '--rm', 'ignore:1']), './.dockerignore\n./Dockerfile\n./a.txt\n./keep.log\n');
});

test('--build-arg: an ARG takes it (RUN sees it, history says so), an unused one is warned about', async () => {
  const dir = await context('args', { Dockerfile: 'FROM busybox\nARG WHO=nobody\nRUN echo "hi $WHO"\n' });
  const out = await ok(['build', '--build-arg', 'WHO=me', '--build-arg', 'EXTRA=1', '-t', 'args:1', dir]);
  assert.match(out, /Step 3\/3 : RUN echo "hi \$WHO"\n ---> Running in [0-9a-f]{12}\nhi me\n/);
  assert.match(out, /\[Warning\] One or more build-args \[EXTRA\] were not consumed\nSuccessfully built/);
  const top = await ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'args:1']);
  assert.equal(top.split('\n')[0], '|1 WHO=me /bin/sh -c echo "hi $WHO"');
  const dflt = await ok(['build', dir]);
  assert.match(dflt, /\nhi nobody\n/);
});

test('ADD <url>: downloaded by the daemon, 0600, the mtime of Last-Modified, an archive not unpacked; a nameless URL into a dir refused', async () => {
  const tgz = gzipSync(execFileSync('tar', ['-C', await context('inner', { 'x.txt': 'x' }), '-cf', '-', '.']));
  const server = http.createServer((req, res) => {
    if (req.url === '/files/hello.txt') {
      res.writeHead(200, { 'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
      res.end('hello over http\n');
    } else if (req.url === '/files/arch.tar.gz') res.end(tgz);
    else if (req.url === '/dl/') { res.writeHead(200, { 'Content-Disposition': 'attachment; filename="named.txt"' }); res.end('named\n'); }
    else if (req.url === '/') res.end('bare\n');
    else { res.writeHead(404); res.end('no such file'); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const dir = await context('addurl', { Dockerfile: `FROM busybox\nADD ${base}/files/hello.txt /a/\nADD ${base}/files/arch.tar.gz /b/\nADD ${base}/dl/ /c/\nADD ${base}/ /d\n` });
    await ok(['build', '-q', '-t', 'addurl:1', dir]);
    const out = await ok(['run', '--rm', 'addurl:1', 'sh', '-c', 'stat -c "%a %Y %n" /a/hello.txt /b/arch.tar.gz /c/named.txt /d; cat /a/hello.txt /d']);
    assert.equal(out, `600 1445412480 /a/hello.txt\n600 0 /b/arch.tar.gz\n600 0 /c/named.txt\n600 0 /d\nhello over http\nbare\n`);
    const none = await context('addnone', { Dockerfile: `FROM busybox\nADD ${base}/ /e/\n` });
    const r = await docker(d, ['build', none]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot determine filename for source ${base}/`));
    const missing = await context('add404', { Dockerfile: `FROM busybox\nADD ${base}/nope /f\n` });
    const m = await docker(d, ['build', missing]);
    assert.equal(m.code, 1);
    assert.match(m.stderr, new RegExp(`failed to GET ${base}/nope with status 404`));
    const copy = await docker(d, ['build', await context('copyurl', { Dockerfile: `FROM busybox\nCOPY ${base}/files/hello.txt /a\n` })]);
    assert.equal(copy.code, 1);
    assert.match(copy.stderr, /source can't be a URL for COPY/);
    await ok(['rmi', 'addurl:1']);
  } finally {
    server.close();
  }
});

test('a failing RUN: dockerd\'s message and exit status; --force-rm leaves no container, rm alone keeps it', async () => {
  const dir = await context('fail', { Dockerfile: 'FROM busybox\nRUN echo before\nRUN exit 3\n' });
  const forced = await docker(d, ['build', '--force-rm', '-t', 'fail:1', dir]);
  assert.equal(forced.code, 3, forced.stderr);
  assert.equal(forced.stderr, "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n");
  assert.match(forced.stdout, /Step 3\/3 : RUN exit 3\n ---> Running in ([0-9a-f]{12})\nRemoving intermediate container \1\n$/);
  assert.equal(await ok(['ps', '-aq']), '');
  const kept = await docker(d, ['build', dir]);
  assert.equal(kept.code, 3);
  const left = (await ok(['ps', '-aq'])).trim();
  assert.equal(left.length, 12, 'dockerd keeps the failed step\'s container without --force-rm');
  assert.match(kept.stdout, new RegExp(`Running in ${left}\n$`));
  await ok(['rm', left]);
  await assert.rejects(ok(['image', 'inspect', 'fail:1']));
});

test('-q prints the image id only; a gzipped context; errors: a parse error, a missing COPY source, no Dockerfile', async () => {
  const dir = await context('quiet', { Dockerfile: 'FROM busybox\nLABEL q=1\n' });
  const id = await ok(['build', '-q', dir]);
  assert.match(id, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal((await ok(['image', 'inspect', '--format', '{{.Id}}', id.trim()])).trim(), id.trim());

  const bad = await context('bad', { Dockerfile: 'FROM busybox\nRUN true\nFOO bar\n' });
  const r = await docker(d, ['build', bad]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error response from daemon: dockerfile parse error line 3: unknown instruction: FOO\n');

  const missing = await context('missing', { Dockerfile: 'FROM busybox\nCOPY nosuch /x\n' });
  const m = await docker(d, ['build', missing]);
  assert.equal(m.code, 1);
  assert.equal(m.stderr, 'COPY failed: file not found in build context or excluded by .dockerignore: stat nosuch: file does not exist\n');

  // --chmod parses, and its step is refused (the classic builder's errChmod); the steps before it ran
  const chmod = await context('chmod', { Dockerfile: 'FROM busybox\nRUN echo first-step\nCOPY --chmod=0600 x.txt /x\n', 'x.txt': 'x' });
  const c = await docker(d, ['build', chmod]);
  assert.equal(c.code, 1);
  assert.match(c.stdout, /Step 2\/3 : RUN echo first-step\n[^]*Step 3\/3 : COPY --chmod=0600 x.txt \/x\n/);
  assert.equal(c.stderr, 'the --chmod option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled\n');

  // a context (a tar on stdin, sent as it is) without the Dockerfile asked for
  const ctx = await context('nodockerfile', { 'x.txt': 'x' });
  const tar = execFileSync('tar', ['-C', ctx, '-cf', '-', '.']);
  const n = await docker(d, ['build', '-'], { input: tar });
  assert.equal(n.code, 1);
  assert.equal(n.stderr, 'Error response from daemon: Cannot locate specified Dockerfile: Dockerfile\n');
  const gz = await docker(d, ['build', '-q', '-'], { input: gzipSync(execFileSync('tar', ['-C', dir, '-cf', '-', '.'])) });
  assert.equal(gz.stdout, id, 'a gzipped context: the same build (cached)');

  // FROM scratch with metadata only: an image of no layer (dockerd's empty layer is not one)
  const scratch = await context('scratch', { Dockerfile: 'FROM scratch\nLABEL a=b\nENV X=1\n' });
  const sid = (await ok(['build', '-q', '-t', 'meta:1', scratch])).trim();
  assert.equal((await ok(['image', 'inspect', '-f', '{{len .RootFS.Layers}} {{.Config.Labels.a}}', sid])).trim(), '0 b');
  await ok(['rmi', 'meta:1']);
});

test('COPY --from keeps the owners of the stage\'s files (dockerd\'s preserveOwnership); --chown still sets them; a context COPY is root\'s', async () => {
  const dir = await context('owners', {
    Dockerfile: `FROM busybox AS build
RUN mkdir -p /out/d && echo x > /out/d/f && echo y > /out/top && chown -R 100:200 /out && chown 300:400 /out/top
FROM busybox
COPY --from=build /out /kept
COPY --from=build --chown=7:8 /out/top /chowned
COPY ctx.txt /ctx
`, 'ctx.txt': 'c\n',
  });
  await ok(['build', '-q', '-t', 'owners:1', dir]);
  const out = await ok(['run', '--rm', 'owners:1', 'sh', '-c', 'stat -c "%n %u:%g" /kept/d /kept/d/f /kept/top /chowned /ctx']);
  assert.equal(out, '/kept/d 100:200\n/kept/d/f 100:200\n/kept/top 300:400\n/chowned 7:8\n/ctx 0:0\n');
  await ok(['rmi', 'owners:1']);
});

test('moby\'s build tests, as dockerd\'s classic builder answers them: a relative VOLUME, RUN [], EXPOSE in any order, ADD through a dangling symlink, a truncated tar, WORKDIR as written or cleaned, COPY --from the current stage', async () => {
  const build = async (name: string, dockerfile: string, extra: Record<string, string> = {}) => {
    const r = await docker(d, ['build', '-q', '-t', name, await context(name, { Dockerfile: dockerfile, ...extra })]);
    return { ...r, out: r.stdout + r.stderr };
  };
  const inspect = async (name: string, f: string) => (await ok(['image', 'inspect', '-f', f, name])).trim();
  assert.equal((await build('relvol', 'FROM scratch\nENV FOO bar\nVOLUME ${FOO}\n')).code, 0);
  assert.equal(await inspect('relvol', '{{json .Config.Volumes}}'), '{"bar":{}}');
  assert.equal((await build('emptyrun', 'FROM busybox\nRUN []\n')).code, 0, 'TestBuildJSONEmptyRun');
  assert.equal((await build('expose1', 'FROM scratch\nEXPOSE 80 2375\n')).code, 0);
  assert.equal((await build('expose2', 'FROM scratch\nEXPOSE 2375 80\n')).code, 0);
  assert.equal(await inspect('expose1', '{{.Id}}'), await inspect('expose2', '{{.Id}}'), 'TestBuildExposeOrder: one cache key');
  const dangling = await build('dangling', 'FROM busybox\nRUN ln -s /../../../../nonexist/dir /x\nADD foo.txt /x/\nRUN test "$(cat /nonexist/dir/foo.txt)" = test\n', { 'foo.txt': 'test\n' });
  assert.equal(dangling.code, 0, dangling.out);
  // Go's archive/tar: part of the second end-of-archive block is an unexpected EOF
  const ctx = await context('brokentar', { Dockerfile: 'FROM busybox\nADD test.tar /\n' });
  const tar = execFileSync('tar', ['-C', ctx, '--format=ustar', '-cf', '-', 'Dockerfile']);
  await fs.writeFile(path.join(ctx, 'test.tar'), tar.subarray(0, 1024 + 512 + 511));
  const broken = await docker(d, ['build', '-q', ctx]);
  assert.notEqual(broken.code, 0);
  assert.match(broken.stdout + broken.stderr, /truncated/);
  assert.equal((await build('wd1', 'FROM busybox\nWORKDIR /tmp/\n')).code, 0);
  assert.equal(await inspect('wd1', '{{.Config.WorkingDir}}'), '/tmp/');
  assert.equal((await build('wd2', 'FROM busybox\nWORKDIR /a/b\nWORKDIR ..\nWORKDIR ./c/\n')).code, 0);
  assert.equal(await inspect('wd2', '{{.Config.WorkingDir}}'), '/a/c');
  const self = await build('selfcopy', 'FROM busybox\nCOPY --from=0 foo bar\n');
  assert.notEqual(self.code, 0);
  assert.match(self.out, /invalid from flag value 0: refers to current build stage/);
  await ok(['rmi', 'relvol', 'emptyrun', 'expose1', 'expose2', 'dangling', 'wd1', 'wd2']);
});
