// Pulls over HTTPS, the default path: a real docker-registry serving a certificate of a
// private CA, on a non-loopback address (tsula, like docker, takes loopback registries as
// insecure) and not in insecure-registries. The CA is trusted through docker's certs.d
// layout under "registry-certs-dirs" (default /etc/tsula/certs.d, /etc/docker/certs.d);
// without it, or with another CA, the pull fails saying what to do. A registry that wants a
// client certificate gets client.cert + client.key from the same dir.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { issue, makeCa, type Ca, type Issued } from '../helpers/certs.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('registry-tls', { root: true, files: { '/usr/bin/docker-registry': 'docker-registry', '/usr/bin/openssl': 'openssl', '/usr/bin/skopeo': 'skopeo' } });

/** An IPv4 address of this host that is not loopback (the registry listens there). */
function hostAddress(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('registry-tls needs a non-loopback IPv4 address on this host (loopback registries are insecure by default, as in docker)');
}

const ip = hostAddress();
let dir = '';
let ca: Ca;
let other: Ca;
let client: Issued;
let plain: TestRegistry;   // TLS, no client certificates
let mutual: TestRegistry;  // TLS, client certificates from ca required
let d: TestDaemon;
let certsA = '';           // registry-certs-dirs: A is searched first, then B
let certsB = '';

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-tls-'));
  ca = await makeCa(path.join(dir, 'pki'), 'tsula-test-ca');
  other = await makeCa(path.join(dir, 'pki'), 'some-other-ca');
  const server = await issue(ca, path.join(dir, 'pki'), 'registry', { server: { ips: [ip] } });
  client = await issue(ca, path.join(dir, 'pki'), 'client', { client: true });
  plain = await TestRegistry.start({ addr: ip, tls: server });
  mutual = await TestRegistry.start({ addr: ip, tls: { ...server, clientCas: [ca.cert] } });
  // skopeo pushes with its own cert dir (containers-certs.d: the same layout)
  mutual.clientCertDir = await certsDir(path.join(dir, 'skopeo'), { ca, client: true });
  await plain.push(path.join(IMAGES, 'busybox.tar'), 'busybox:latest');
  await mutual.push(path.join(IMAGES, 'busybox.tar'), 'busybox:latest');
  certsA = path.join(dir, 'certs-a');
  certsB = path.join(dir, 'certs-b');
  await fs.mkdir(certsA);
  await fs.mkdir(certsB);
  d = await TestDaemon.create({ configJson: { 'registry-certs-dirs': [certsA, certsB] } });
});

after(async () => {
  await d?.destroy();
  await plain?.stop();
  await mutual?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** A certs.d dir for one registry: its CA as ca.crt, and the client pair if asked. */
async function certsDir(hostDir: string, o: { ca?: Ca; client?: boolean; keyless?: boolean }): Promise<string> {
  await fs.rm(hostDir, { recursive: true, force: true });
  await fs.mkdir(hostDir, { recursive: true });
  if (o.ca) await fs.copyFile(o.ca.cert, path.join(hostDir, 'ca.crt'));
  if (o.client) {
    await fs.copyFile(client.cert, path.join(hostDir, 'client.cert'));
    if (!o.keyless) await fs.copyFile(client.key, path.join(hostDir, 'client.key'));
  }
  return hostDir;
}

/** Nothing of a failed pull is kept. */
async function nothingStored(): Promise<void> {
  assert.equal(await d.ok(['images', '-q']), '');
  assert.deepEqual(await fs.readdir(path.join(d.graph, 'image', 'blobs', 'sha256')), []);
}

test('a registry whose CA is not trusted: the pull fails, saying where its CA goes', async () => {
  await fs.rm(path.join(certsA, plain.host), { recursive: true, force: true });
  await fs.rm(path.join(certsB, plain.host), { recursive: true, force: true });
  const r = await d.cli(['pull', `${plain.host}/busybox`]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`registry ${plain.host.replace(/\./g, '\\.')}: TLS certificate not trusted \\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN): .*\\): ` +
    `put the CA that signed it in ${path.join(certsA, plain.host, 'ca.crt')}, or add the registry to "insecure-registries"`));
  await nothingStored();
});

test('another CA in its certs.d dir: still refused, naming the dir', async () => {
  const hostDir = await certsDir(path.join(certsA, plain.host), { ca: other });
  try {
    const r = await d.cli(['pull', `${plain.host}/busybox`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`TLS certificate not trusted .*: no CA in ${hostDir} signed it`));
    await nothingStored();
  } finally {
    await fs.rm(hostDir, { recursive: true, force: true });
  }
});

test('its CA in certs.d (in the second dir searched): the pull is verified HTTPS, the image runs', async () => {
  const hostDir = await certsDir(path.join(certsB, plain.host), { ca });
  try {
    const out = await d.ok(['pull', `${plain.host}/busybox`]);
    assert.match(out, new RegExp(`Status: Downloaded newer image for ${plain.host.replace(/\./g, '\\.')}/busybox:latest`));
    assert.equal(await d.ok(['run', '--rm', `${plain.host}/busybox`, 'echo', 'over TLS']), 'over TLS\n');
    // the daemon says where its trust came from (and there is no plain-HTTP fallback: not insecure)
    assert.match(await d.log(), new RegExp(`registry ${plain.host.replace(/\./g, '\\.')}: TLS from ${hostDir} \\(1 CA file\\(s\\)\\)`));
    assert.doesNotMatch(await d.log(), /no TLS, using plain HTTP/);
  } finally {
    await d.cli(['rmi', `${plain.host}/busybox`]);
    await fs.rm(hostDir, { recursive: true, force: true });
  }
});

test('a registry that wants a client certificate: refused without one, served with client.cert + client.key', async () => {
  const hostDir = await certsDir(path.join(certsA, mutual.host), { ca });
  try {
    const none = await d.cli(['pull', `${mutual.host}/busybox`]);
    assert.equal(none.code, 1, none.stdout);
    assert.match(none.stderr, new RegExp(`registry ${mutual.host.replace(/\./g, '\\.')} refused the TLS handshake .*: it may want a client certificate: put client.cert and client.key in ${hostDir}`));
    await nothingStored();

    await certsDir(hostDir, { ca, client: true, keyless: true });
    const half = await d.cli(['pull', `${mutual.host}/busybox`]);
    assert.equal(half.code, 1);
    assert.match(half.stderr, new RegExp(`${path.join(hostDir, 'client.cert')} has no key client.key beside it`));

    await certsDir(hostDir, { ca, client: true });
    assert.match(await d.ok(['pull', `${mutual.host}/busybox`]), /Status: Downloaded newer image/);
    assert.equal(await d.ok(['run', '--rm', `${mutual.host}/busybox`, 'echo', 'mutual TLS']), 'mutual TLS\n');
  } finally {
    await d.cli(['rmi', `${mutual.host}/busybox`]);
    await fs.rm(hostDir, { recursive: true, force: true });
  }
});

test('NODE_EXTRA_CA_CERTS names its CA: bin/tsulad leaves the file to the first TLS dial, and that pull is verified', async () => {
  const none = path.join(dir, 'no-certs-d');
  const e = await TestDaemon.create({ launcher: true, env: { NODE_EXTRA_CA_CERTS: ca.cert }, configJson: { 'registry-certs-dirs': [none] } });
  const bad = await TestDaemon.create({ launcher: true, env: { NODE_EXTRA_CA_CERTS: path.join(dir, 'missing.pem') }, configJson: { 'registry-certs-dirs': [none] } });
  try {
    // node did not parse it at start-up: the name waits in the daemon's environment
    const environ = (await fs.readFile(`/proc/${e.proc!.pid}/environ`, 'utf8')).split('\0');
    assert.ok(environ.includes(`TSULA_NODE_EXTRA_CA_CERTS=${ca.cert}`), environ.join(' '));
    assert.ok(!environ.some((v) => v.startsWith('NODE_EXTRA_CA_CERTS=')));
    assert.match(await e.ok(['pull', `${plain.host}/busybox`]), /Status: Downloaded newer image/);
    assert.equal(await e.ok(['run', '--rm', `${plain.host}/busybox`, 'echo', 'extra CA']), 'extra CA\n');
    // a file that cannot be read: node's own warning, node's own roots (so: not trusted)
    const r = await bad.cli(['pull', `${plain.host}/busybox`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /TLS certificate not trusted/);
    assert.match(await bad.log(), /Ignoring extra certs from `.*missing\.pem`, load failed: ENOENT/);
  } finally {
    await e.destroy();
    await bad.destroy();
  }
});

test('HTTPS_PROXY / NO_PROXY in tsulad\'s environment (dockerd\'s): a pull tunnels through the proxy\'s CONNECT, verified end to end; NO_PROXY goes direct; a proxy that refuses is named', async () => {
  const connects: string[] = [];
  let refuse = false;
  const proxy = http.createServer((_req, res) => { res.statusCode = 502; res.end(); });
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    if (refuse) { client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'); return; }
    const [host, port] = (req.url ?? '').split(':');
    const up = net.connect(Number(port), host!, () => { client.write('HTTP/1.1 200 Connection Established\r\n\r\n'); up.write(head); up.pipe(client); client.pipe(up); });
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  const certs = path.join(dir, 'proxy-certs');
  await certsDir(path.join(certs, plain.host), { ca });
  const via = await TestDaemon.create({ env: { HTTPS_PROXY: proxyUrl }, configJson: { 'registry-certs-dirs': [certs] } });
  let direct = await TestDaemon.create({ env: { HTTPS_PROXY: proxyUrl, NO_PROXY: `example.com,${ip}` }, configJson: { 'registry-certs-dirs': [certs] } });
  try {
    assert.match(await via.ok(['pull', `${plain.host}/busybox`]), /Status: Downloaded newer image/);
    assert.ok(connects.length > 0 && connects.every((c) => c === plain.host), connects.join(' '));
    assert.equal(await via.ok(['run', '--rm', `${plain.host}/busybox`, 'echo', 'through a proxy']), 'through a proxy\n');
    connects.length = 0;
    assert.match(await direct.ok(['pull', `${plain.host}/busybox`]), /Status: Downloaded newer image/);
    assert.deepEqual(connects, [], 'NO_PROXY names the registry: no CONNECT');
    // (a daemon whose tunnels are not kept alive from the pulls above)
    refuse = true;
    await direct.cli(['rmi', `${plain.host}/busybox`]);
    await direct.destroy();
    direct = await TestDaemon.create({ env: { HTTPS_PROXY: proxyUrl }, configJson: { 'registry-certs-dirs': [certs] } });
    const r = await direct.cli(['pull', `${plain.host}/busybox`]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`proxyconnect tcp: proxy 127\\.0\\.0\\.1:\\d+ answered CONNECT ${plain.host.replace(/\./g, '\\.')} with 407 Proxy Authentication Required .*HTTPS_PROXY`));
  } finally {
    await via.destroy();
    await direct.destroy();
    proxy.closeAllConnections();
    proxy.close();
  }
});
