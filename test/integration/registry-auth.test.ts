// Registry authentication end to end: Basic auth against the real docker-registry with an
// htpasswd file, and Bearer tokens from a small token server in front of a registry.
// `tsula login` checks credentials through the daemon (POST /auth) before saving them,
// owner-only, in $TSULA_CONFIG; pulls send them in X-Registry-Auth; `logout` removes them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { TestProxy, TestRegistry } from '../helpers/registry.js';
import { docker } from '../helpers/docker-cli.js';
import { grpcClient } from '../../src/common/grpc.js';
import { ImageService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';

let basic: TestRegistry;
let open: TestRegistry;
let proxy: TestProxy;
let d: TestDaemon;
let env: NodeJS.ProcessEnv;
let configFile: string;

before(async () => {
  basic = await TestRegistry.start({ htpasswd: { user: 'alice', password: 's3cret' } });
  await basic.push(path.join(IMAGES, 'busybox.tar'), 'private/busybox:latest');
  open = await TestRegistry.start();
  await open.push(path.join(IMAGES, 'busybox.tar'), 'busybox:latest');
  proxy = await new TestProxy(open.host, { bearer: { service: 'tsula-test-registry', user: 'bob', password: 'tok3n' } }).start();
  d = await TestDaemon.create();
  configFile = path.join(d.dir, 'client', 'config.json');
  env = { TSULA_CONFIG: configFile };
});

after(async () => {
  await d?.destroy();
  await proxy?.stop();
  await basic?.stop();
  await open?.stop();
});

const auths = async () => (JSON.parse(await fs.readFile(configFile, 'utf8')) as { auths: Record<string, { auth: string }> }).auths;

test('Basic auth: anonymous pulls are refused, login checks and saves, pull works, logout forgets', async () => {
  const ref = `${basic.host}/private/busybox`;
  const anon = await d.cli(['pull', ref], { env });
  assert.equal(anon.code, 1);
  // dockerd's words and status (500: a 401 would make the docker CLI prompt for a login)
  assert.match(anon.stderr, new RegExp(`(Head|Get) "http://${basic.host}/v2/private/busybox/manifests/latest": no basic auth credentials`));
  const apiAnon = await d.api('POST', `/images/create?fromImage=${ref}&tag=latest`);
  assert.equal(apiAnon.status, 500, apiAnon.body);
  // the docker CLI fails at once, with no login prompt (on a 401, docker 20.10 asks for one and
  // gives up without a TTY; docker 28 waits for ever)
  const dk = await docker(d, ['pull', ref], { timeoutMs: 20_000 });
  assert.equal(dk.code, 1, dk.stderr);
  assert.match(dk.stderr, /no basic auth credentials/);
  assert.doesNotMatch(dk.stdout + dk.stderr, /login prior to pull|Username/i);
  // a bad password: a 500 with the registry's word, not 'pull access denied' (that is for DENIED)
  const badAuth = Buffer.from(JSON.stringify({ username: 'alice', password: 'nope', serveraddress: basic.host })).toString('base64');
  const apiBad = await d.api('POST', `/images/create?fromImage=${ref}&tag=latest`, undefined, { 'X-Registry-Auth': badAuth });
  assert.equal(apiBad.status, 500, apiBad.body);

  const wrong = await d.cli(['login', '-u', 'alice', '--password-stdin', basic.host], { env, input: 'nope\n' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, new RegExp(`login attempt to http://${basic.host}/v2/ failed with status: 401 Unauthorized`));
  await assert.rejects(fs.stat(configFile), 'nothing is saved for a failed login');
  const apiWrong = await d.api('POST', '/auth', JSON.stringify({ username: 'alice', password: 'nope', serveraddress: basic.host }));
  assert.equal(apiWrong.status, 401);

  const ok = await d.cli(['login', '-u', 'alice', '--password-stdin', basic.host], { env, input: 's3cret\n' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'Login Succeeded\n');
  assert.equal((await fs.stat(configFile)).mode & 0o777, 0o600);
  assert.equal((await fs.stat(path.dirname(configFile))).mode & 0o777, 0o700);
  assert.deepEqual(await auths(), { [basic.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } });

  // no -u, no terminal: the stored credentials are tried first, as docker's runLogin does
  const again1 = await d.cli(['login', basic.host], { env });
  assert.equal(again1.code, 0, again1.stderr);
  assert.equal(again1.stdout, 'Authenticating with existing credentials...\nLogin Succeeded\n');

  const pulled = await d.cli(['pull', ref], { env });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(await d.ok(['run', '--rm', ref, 'echo', 'private']), 'private\n');

  // -p works too (with docker's warning).
  const viaFlag = await d.cli(['login', '-u', 'alice', '-p', 's3cret', `http://${basic.host}/`], { env });
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.match(viaFlag.stderr, /WARNING! Using --password via the CLI is insecure/);
  // docker 20.10's whole warning, and its blank line
  assert.match(viaFlag.stderr, /stored unencrypted in .*config\.json\.\nConfigure a credential helper to remove this warning\. See\nhttps:\/\/docs\.docker\.com\/engine\/reference\/commandline\/login\/#credentials-store\n\n$/);
  assert.deepEqual(Object.keys(await auths()), [basic.host]);

  const out = await d.cli(['logout', basic.host], { env });
  assert.equal(out.stdout, `Removing login credentials for ${basic.host}\n`);
  assert.deepEqual(await auths(), {});
  // docker 20.10 says the same when there was nothing to remove
  assert.equal((await d.cli(['logout', basic.host], { env })).stdout, `Removing login credentials for ${basic.host}\n`);
  await d.ok(['rmi', ref]);
  const again = await d.cli(['pull', ref], { env });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no basic auth credentials/);
  const noTty = await d.cli(['login', basic.host], { env });
  assert.equal(noTty.code, 1);
  assert.match(noTty.stderr, /Cannot perform an interactive login from a non TTY device/);
  // an empty --password-stdin is no password: the same refusal, as docker's
  const emptyStdin = await d.cli(['login', '-u', 'alice', '--password-stdin', basic.host], { env, input: '' });
  assert.deepEqual([emptyStdin.code, emptyStdin.stderr], [1, 'Error: Cannot perform an interactive login from a non TTY device\n']);
});

test('Bearer tokens: the challenge is followed to the realm with service and scope, tokens are reused', async () => {
  const ref = `${proxy.host}/busybox`;
  const anon = await d.cli(['pull', ref], { env });
  assert.equal(anon.code, 1);
  assert.match(anon.stderr, /unauthorized: authentication required \(token server 127\.0\.0\.1:\d+ answered 401/);

  const wrong = await d.cli(['login', '-u', 'bob', '--password-stdin', proxy.host], { env, input: 'bad' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /incorrect username or password/);

  const login = await d.cli(['login', '-u', 'bob', '--password-stdin', proxy.host], { env, input: 'tok3n' });
  assert.equal(login.code, 0, login.stderr);
  proxy.tokenRequests.length = 0;
  const pulled = await d.cli(['pull', ref], { env });
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.equal(await d.ok(['run', '--rm', ref, 'echo', 'bearer']), 'bearer\n');
  // One token for the pull's scope, reused for the manifest, the config and the layer.
  assert.equal(proxy.tokenRequests.length, 1, proxy.tokenRequests.map((q) => q.toString()).join('\n'));
  const q = proxy.tokenRequests[0]!;
  assert.equal(q.get('service'), 'tsula-test-registry');
  assert.deepEqual(q.getAll('scope'), ['repository:busybox:pull']);
  assert.equal(q.get('account'), 'bob');
  const blobGets = proxy.requests.filter((r) => r.startsWith('GET /blobs/')).length;
  assert.equal(blobGets, 2, proxy.requests.join('\n'));
  assert.equal((await d.cli(['logout', proxy.host], { env })).code, 0);
});

test('parallel first pulls from registries tsulad has not met yet: each answers its own challenge (Basic and Bearer)', async () => {
  const fresh = await TestRegistry.start({ htpasswd: { user: 'carol', password: 'pw' } });
  const front = await new TestProxy(open.host, { bearer: { service: 'tsula-test-registry', user: 'dave', password: 'pw2' } }).start();
  try {
    for (const t of ['a', 'b', 'c', 'd']) await fresh.push(path.join(IMAGES, 'busybox.tar'), `par/${t}:latest`);
    const auth = (user: string, password: string, server: string) =>
      ({ 'X-Registry-Auth': Buffer.from(JSON.stringify({ username: user, password, serveraddress: server })).toString('base64') });
    const basicPulls = await Promise.all(['a', 'b', 'c', 'd'].map((t) =>
      d.api('POST', `/images/create?fromImage=${fresh.host}/par/${t}&tag=latest`, undefined, auth('carol', 'pw', fresh.host))));
    for (const r of basicPulls) assert.ok(r.status === 200 && !/errorDetail/.test(r.body), r.body);
    // the Bearer front of the open registry: parallel pulls of tags it has (busybox:latest as 4 names is 1 repo: use one ref 4 times)
    const bearerPulls = await Promise.all([1, 2, 3, 4].map(() =>
      d.api('POST', `/images/create?fromImage=${front.host}/busybox&tag=latest`, undefined, auth('dave', 'pw2', front.host))));
    for (const r of bearerPulls) assert.ok(r.status === 200 && !/errorDetail/.test(r.body), r.body);
  } finally {
    await front.stop();
    await fresh.stop();
  }
});

test('CRI PullImage credentials as containerd\'s ParseAuth reads them: username/password, auth (base64), and only for the registry server_address names', async () => {
  const ref = `${basic.host}/private/busybox:latest`;
  const im = grpcClient(ImageService, d.criSock) as unknown as Record<string, (req: unknown) => Promise<any>> & { close(): void };
  const drop = async () => { await im.removeImage({ image: { image: ref } }).catch(() => {}); };
  try {
    await drop();
    await im.pullImage({ image: { image: ref }, auth: { auth: Buffer.from('alice:s3cret').toString('base64') } });
    await drop();
    await im.pullImage({ image: { image: ref }, auth: { username: 'alice', password: 's3cret', serverAddress: basic.host } });
    await drop();
    // credentials for another registry are not sent to this one
    await assert.rejects(im.pullImage({ image: { image: ref }, auth: { username: 'alice', password: 's3cret', serverAddress: 'registry.example.com' } }), /no basic auth credentials/);
  } finally {
    im.close();
  }
});
