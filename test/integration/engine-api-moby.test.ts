// moby's own integration tests (integration/container, network, system) replayed as the raw
// requests their Go client sends: dockerd's status codes and words for bad JSON, resize
// sizes, copies of "/", the daemon root's binds, OPTIONS, scopes, unknown drivers, old API
// shapes. No stock CLI needed (the docker CLI's own checks are in docker-cli-*).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { promises as fs } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { TestDaemon } from '../helpers/daemon.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('engine-api-moby', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => { await d?.destroy(); });

/** A raw request: a body as given (a string is sent as it is), its Content-Type. */
function req(method: string, p: string, body?: string | Record<string, unknown>, type = 'application/json'): Promise<{ status: number; body: Buffer; message: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ socketPath: d.sock, method, path: p, headers: body === undefined ? {} : { 'Content-Type': type } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        let message = '';
        try { message = (JSON.parse(b.toString()) as { message?: string }).message ?? ''; } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body: b, message });
      });
    });
    r.on('error', reject);
    r.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

const run = async (cmd: string[], name: string) => {
  const c = await req('POST', `/v1.47/containers/create?name=${name}`, { Image: 'busybox', Cmd: cmd, HostConfig: { NetworkMode: 'none' } });
  assert.equal(c.status, 201, c.message);
  const id = (JSON.parse(c.body.toString()) as { Id: string }).Id;
  assert.equal((await req('POST', `/v1.47/containers/${id}/start`)).status, 204);
  return id;
};

test('bad JSON and Content-Type as dockerd\'s ReadJSON words them, before the object is looked up (TestContainerInvalidJSON, TestVolumesInvalidJSON)', async () => {
  for (const ep of ['/v1.47/containers/foobar/exec', '/v1.47/containers/foobar/update', '/v1.47/exec/foobar/start', '/v1.47/volumes/create', '/v1.47/networks/create']) {
    assert.deepEqual(await req('POST', ep, '{}', 'text/plain').then((r) => [r.status, r.message]), [400, "unsupported Content-Type header (text/plain): must be 'application/json'"], ep);
    assert.deepEqual(await req('POST', ep, '{invalid json').then((r) => [r.status, r.message]), [400, "invalid JSON: invalid character 'i' looking for beginning of object key string"], ep);
    assert.deepEqual(await req('POST', ep, '{} trailing content').then((r) => [r.status, r.message]), [400, 'unexpected content after JSON'], ep);
  }
});

test('resize: uint32 sizes in dockerd 25+\'s words; copy of "/" named from "/", of "/." from "."; a missing path names the reference sent; POST /copy below API 1.24', async () => {
  const id = await run(['sleep', '300'], 'mobyrsz');
  try {
    const cases: Array<[string, string]> = [
      ['w=100', 'invalid resize height "": invalid syntax'],
      ['h=not-a-number&w=100', 'invalid resize height "not-a-number": invalid syntax'],
      ['h=-100&w=100', 'invalid resize height "-100": value out of range'],
      ['h=100&w=4294967296', 'invalid resize width "4294967296": value out of range'],
    ];
    for (const [q, msg] of cases) assert.deepEqual(await req('POST', `/v1.47/containers/${id}/resize?${q}`).then((r) => [r.status, r.message]), [400, msg], q);
    const names = async (p: string) => execFileSync('tar', ['-tf', '-'], { input: (await req('GET', `/v1.47/containers/${id}/archive?path=${encodeURIComponent(p)}`)).body, stdio: ['pipe', 'pipe', 'ignore'] }).toString().split('\n');
    const root = await names('/');
    for (const want of ['/', '/bin/busybox', '/etc/hostname']) assert.ok(root.includes(want), `${want} in a copy of /`);
    for (const p of ['.', '/.', './', '/./']) assert.ok((await names(p)).includes('./bin/busybox'), `./bin/busybox in a copy of ${p}`);
    assert.deepEqual(await req('GET', `/v1.47/containers/${id.slice(0, 12)}/archive?path=/dne`).then((r) => [r.status, r.message]), [404, `Could not find the file /dne in container ${id.slice(0, 12)}`]);
    const old = await req('POST', `/v1.23/containers/${id}/copy`, { Resource: '/etc/hostname' });
    assert.equal(old.status, 200);
    assert.deepEqual(execFileSync('tar', ['-tf', '-'], { input: old.body }).toString().trim(), 'hostname');
    assert.equal((await req('POST', `/v1.24/containers/${id}/copy`, { Resource: '/etc/hostname' })).status, 404);
    assert.deepEqual(await req('POST', `/v1.23/containers/${id}/copy`, {}).then((r) => [r.status, r.message]), [500, 'Path cannot be empty']);
  } finally {
    await req('DELETE', `/v1.47/containers/${id}?force=1`);
  }
});

test('binds of the daemon root: rslave unless asked, rslave/rshared kept, others refused (TestMountDaemonRoot); API <1.40 without HostConfig is shareable IPC', async () => {
  const create = (hc: Record<string, unknown>, name: string) => req('POST', `/v1.47/containers/create?name=${name}`, { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none', ...hc } });
  const made = await create({ Binds: [`${d.graph}:/foo`] }, 'rootbind');
  assert.equal(made.status, 201, made.message);
  const mounts = (JSON.parse((await req('GET', '/v1.47/containers/rootbind/json')).body.toString()) as { Mounts: Array<{ Propagation: string }> }).Mounts;
  assert.equal(mounts[0]!.Propagation, 'rslave');
  // it runs: on a private host mount the implicit rslave falls back to private, as dockerd's
  assert.equal((await req('POST', '/v1.47/containers/rootbind/start')).status, 204);
  assert.equal((await create({ Binds: [`${d.graph}/containers:/foo:rshared`] }, 'rootshared')).status, 201);
  for (const [hc, prop] of [
    [{ Binds: [`${d.graph}/containers:/foo:private`] }, 'private'],
    [{ Mounts: [{ Type: 'bind', Source: d.graph, Target: '/foo', BindOptions: { Propagation: 'shared' } }] }, 'shared'],
  ] as const) {
    const r = await create(hc, 'rootbad');
    assert.equal(r.status, 400);
    assert.match(r.message, new RegExp(`must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: "${d.graph}", bind mount source: ".*", propagation: "${prop}"`));
  }
  const old = await req('POST', '/v1.39/containers/create?name=oldipc', { Image: 'busybox' });
  assert.equal(old.status, 201, old.message);
  assert.equal((JSON.parse((await req('GET', '/v1.39/containers/oldipc/json')).body.toString()) as { HostConfig: { IpcMode: string } }).HostConfig.IpcMode, 'shareable');
  for (const n of ['rootbind', 'rootshared', 'oldipc']) await req('DELETE', `/v1.47/containers/${n}?force=1`);
});

test('OPTIONS on any path (TestAPIOptionsRoute), network inspect in another scope, an unknown network driver (plugin not found), /info below 1.25', async () => {
  assert.equal((await req('OPTIONS', '/')).status, 200);
  assert.equal((await req('OPTIONS', '/v1.47/containers/json')).status, 200);
  assert.equal((await req('GET', '/v1.47/networks/none?scope=local')).status, 200);
  assert.deepEqual(await req('GET', '/v1.47/networks/none?scope=swarm').then((r) => [r.status, r.message]), [404, 'network none not found']);
  assert.deepEqual(await req('POST', '/v1.47/networks/create', { Name: 'x1', Driver: 'nosuchdriver' }).then((r) => [r.status, r.message]), [404, 'plugin "nosuchdriver" not found']);
  assert.equal((await req('POST', '/v1.47/networks/create', { Name: 'x1', Driver: 'macvlan' })).status, 400);
  const info = (v: string) => req('GET', `/v${v}/info`).then((r) => JSON.parse(r.body.toString()) as { ExecutionDriver: string; SecurityOptions: string[]; NGoroutines: number });
  const [i24, i47] = [await info('1.24'), await info('1.47')];
  assert.deepEqual([i24.ExecutionDriver, i24.SecurityOptions], ['<not supported>', ['seccomp']]);
  assert.deepEqual(i47.SecurityOptions, ['name=seccomp,profile=builtin']);
  assert.ok(i47.NGoroutines > 0);
});

test('a platform on import and pull parsed as containerd\'s platforms.Parse before anything starts; import takes linux only (TestImportWithCustomPlatform, TestImagePullPlatformInvalid)', async () => {
  const empty = Buffer.alloc(1024).toString('latin1');
  const imp = (p: string) => req('POST', `/v1.47/images/create?fromSrc=-&repo=imp&tag=t&platform=${encodeURIComponent(p)}`, empty, 'application/x-tar');
  for (const p of ['linux', 'LINUX', 'linux/amd64']) {
    const r = await imp(p);
    assert.equal(r.status, 200, `${p}: ${r.body}`);
    const img = JSON.parse((await req('GET', '/v1.47/images/imp:t/json')).body.toString()) as { Os: string; Architecture: string };
    assert.equal(`${img.Os}/${img.Architecture}`, `linux/${process.arch === 'x64' ? 'amd64' : process.arch}`, p);
  }
  assert.deepEqual(await imp('macos').then((r) => [r.status, r.message]), [400, 'operating system is not supported']);
  assert.deepEqual(await imp('nintendo64').then((r) => [r.status, r.message]), [400, '"nintendo64": unknown operating system or architecture: invalid argument']);
  assert.equal((await imp('/')).status, 400);
  const pull = await req('POST', '/v1.47/images/create?fromImage=127.0.0.1:1/nothing&tag=latest&platform=foobar');
  assert.deepEqual([pull.status, pull.message], [400, '"foobar": unknown operating system or architecture: invalid argument']);
  await req('DELETE', '/v1.47/images/imp:t');
});

test('daemon.json default-ipc-mode and default-cgroupns-mode: a container\'s when it names none (TestDaemonIpcModeShareableFromConfig, TestCgroupNamespacesRun)', async () => {
  const d2 = await TestDaemon.create({ configJson: { 'default-ipc-mode': 'shareable', 'default-cgroupns-mode': 'private' } });
  try {
    await d2.loadBusybox();
    const own = (await d2.ok(['run', '--rm', '--network', 'none', 'busybox', 'readlink', '/proc/self/ns/cgroup'])).trim();
    assert.notEqual(own, execFileSync('readlink', ['/proc/self/ns/cgroup']).toString().trim(), 'a cgroup namespace of its own');
    const id = (await d2.ok(['create', '--network', 'none', 'busybox', 'true'])).trim();
    assert.equal((await d2.ok(['inspect', '-f', '{{.HostConfig.IpcMode}} {{.HostConfig.CgroupnsMode}}', id])).trim(), 'shareable private');
    const host = (await d2.ok(['create', '--network', 'none', '--ipc', 'private', '--cgroupns', 'host', 'busybox', 'true'])).trim();
    assert.equal((await d2.ok(['inspect', '-f', '{{.HostConfig.IpcMode}} {{.HostConfig.CgroupnsMode}}', host])).trim(), 'private host');
  } finally {
    await d2.destroy();
  }
});

test('inspect below API 1.20 in dockerd\'s v1p19 shape (TestInspectCpusetInConfigPre120): Config.Cpuset and the resources, Volumes/VolumesRW for Mounts; below 1.21 no Networks', async () => {
  const c = await req('POST', '/v1.47/containers/create?name=pre120', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none', CpusetCpus: '0', Memory: 64 << 20, Binds: ['/tmp:/hosttmp:ro'] } });
  assert.equal(c.status, 201, c.message);
  try {
    const old = JSON.parse((await req('GET', '/v1.19/containers/pre120/json')).body.toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(old.Config.Cpuset, '0');
    assert.equal(old.Config.Memory, 64 << 20);
    assert.deepEqual([old.Volumes, old.VolumesRW, 'Mounts' in old], [{ '/hosttmp': '/tmp' }, { '/hosttmp': false }, false]);
    assert.equal('Networks' in old.NetworkSettings, false);
    const now = JSON.parse((await req('GET', '/v1.47/containers/pre120/json')).body.toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(['Cpuset' in now.Config, 'Volumes' in now, now.Mounts.length, 'Networks' in now.NetworkSettings], [false, false, 1, true]);
  } finally {
    await req('DELETE', '/v1.47/containers/pre120?force=1');
  }
});

test('podman\'s compat API tests, as dockerd answers them: a known path\'s other method is "page not found", the old images filter, an empty import, cp keeps the archive\'s owners, NanoCpus below 0.01 created', async () => {
  assert.deepEqual(await req('PUT', '/v1.47/containers/json').then((r) => [r.status, r.message]), [404, 'page not found']);
  assert.deepEqual(await req('PATCH', '/_ping').then((r) => [r.status, r.message]), [404, 'page not found']);
  const names = async (p: string) => (JSON.parse((await req('GET', p)).body.toString()) as Array<{ RepoTags: string[] }>).length;
  assert.equal(await names('/v1.24/images/json?filter=nonesuch'), 0);
  assert.equal(await names('/v1.24/images/json?filter=busybox'), 1);
  assert.ok(await names('/v1.47/images/json?filter=nonesuch') >= 1, 'ignored from 1.41 on');
  const empty = await req('POST', '/v1.47/images/create?fromSrc=-&repo=emptyimp&tag=t', '', 'application/x-tar');
  assert.equal(empty.status, 200, empty.body.toString());
  const layers = (JSON.parse((await req('GET', '/v1.47/images/emptyimp:t/json')).body.toString()) as { RootFS: { Layers: string[] } }).RootFS.Layers;
  assert.equal(layers.length, 1);
  await req('DELETE', '/v1.47/images/emptyimp:t');
  // a tar of a file owned 1042:1043, put without copyUIDGID (podman's 20-containers.at)
  const dir = await fs.mkdtemp('/tmp/tsula-owner-');
  try {
    await fs.writeFile(`${dir}/owned`, 'x');
    const tar = execFileSync('tar', ['-C', dir, '--owner=1042', '--group=1043', '--numeric-owner', '-cf', '-', 'owned']);
    const id = await run(['sleep', '300'], 'owners');
    try {
      const put = await new Promise<number>((resolve, reject) => {
        const r = http.request({ socketPath: d.sock, method: 'PUT', path: `/v1.47/containers/${id}/archive?path=/tmp`, headers: { 'Content-Type': 'application/x-tar' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        r.on('error', reject);
        r.end(tar);
      });
      assert.equal(put, 200);
      assert.equal((await d.ok(['exec', id, 'stat', '-c', '%u:%g', '/tmp/owned'])).trim(), '1042:1043');
    } finally {
      await req('DELETE', `/v1.47/containers/${id}?force=1`);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  const tiny = await req('POST', '/v1.47/containers/create?name=tinycpu', { Image: 'busybox', HostConfig: { NanoCpus: 1e6 } });
  assert.equal(tiny.status, 201, tiny.message);
  await req('DELETE', '/v1.47/containers/tinycpu?force=1');
});

test('exec create without a command: dockerd\'s 400 before the lookup; a string Cmd is one argument; network prune of nothing: NetworksDeleted null; df below 1.43: <none> only for an image with no reference', async () => {
  for (const body of [{}, { Cmd: [] }, { Cmd: null }]) {
    assert.deepEqual(await req('POST', '/v1.47/containers/nonesuch/exec', body).then((r) => [r.status, r.message]), [400, 'No exec command specified'], JSON.stringify(body));
  }
  const id = await run(['sleep', '300'], 'execstr');
  try {
    const e = await req('POST', `/v1.47/containers/${id}/exec`, { Cmd: 'true' });
    assert.equal(e.status, 201, e.message);
  } finally {
    await req('DELETE', `/v1.47/containers/${id}?force=1`);
  }
  assert.deepEqual(JSON.parse((await req('POST', '/v1.47/networks/prune')).body.toString()), { NetworksDeleted: null });
  const df = JSON.parse((await req('GET', '/v1.40/system/df')).body.toString()) as { Images: Array<{ RepoTags: string[]; RepoDigests: string[] }> };
  const bb = df.Images.find((i) => i.RepoTags.includes('busybox:latest'))!;
  assert.ok(!bb.RepoDigests.includes('<none>@<none>'), JSON.stringify(bb));
});
