// `docker network create --aux-address` and `--ipam-opt` (docker 20.10's CLI) against tsulad,
// as dockerd's default IPAM keeps them: inspect shows both, an auxiliary address is never a
// container's (handed out, or asked for with --ip / network connect --ip: dockerd's "Address
// already in use"), also after a restart, and one outside the subnet is refused, by the CLI
// and by the API in dockerd's words. The daemon's bridge and subnets are a private test
// network's (helpers/network.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { destroyNetworkDaemon, docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { createTestNet, dockerNetConfig, freeSubnet, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-net-aux', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/bridge': 'containernetworking-plugins' } });

let tn: TestNet;
let d: TestDaemon;
let pools: string[] = [];
const ids: string[] = [];

before(async () => {
  dockerCliPath();
  tn = await createTestNet('dnaux');
  const cfg = dockerNetConfig(tn, 3);
  pools = (cfg['default-address-pools'] as Array<{ base: string }>).map((p) => p.base);
  d = await TestDaemon.create({ configJson: cfg });
  await d.loadBusybox();
});

after(() => destroyNetworkDaemon(d, ids, tn));

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

async function runD(args: string[]): Promise<string> {
  const id = (await ok(['run', '-d', ...args])).trim();
  ids.push(id);
  return id;
}

/** The address a container on `net` got (it prints it and exits; then it is removed). */
async function addressOf(net: string): Promise<string> {
  const id = await runD(['--network', net, 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0']);
  assert.equal((await ok(['wait', id])).trim(), '0');
  const out = (await ok(['logs', id]));
  await ok(['rm', id]);
  const m = /inet ([0-9.]+)\//.exec(out);
  assert.ok(m, out);
  return m[1]!;
}

test('--aux-address and --ipam-opt: shown in inspect; the address is no container\'s, handed out or asked for, also after a restart', async () => {
  const base = freeSubnet([tn.subnet, ...pools])[0].replace(/\.0\/24$/, '');
  const subnet = `${base}.0/28`;
  const aux = `${base}.5`;
  await ok(['network', 'create', '--subnet', subnet, '--aux-address', `router=${aux}`, '--ipam-opt', 'k=v', 'auxnet']);
  try {
    const ipam = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .IPAM}}', 'auxnet']));
    assert.equal(ipam.Driver, 'default');
    assert.deepEqual(ipam.Options, { k: 'v' });
    assert.equal(ipam.Config.length, 1);
    assert.equal(ipam.Config[0].Subnet, subnet);
    assert.deepEqual(ipam.Config[0].AuxiliaryAddresses, { router: aux });

    // a /28 has 12 addresses for containers (16 less network, broadcast, gateway and the aux
    // one): 12 running ones get each of them (the lowest free first, as dockerd's IPAM), never
    // the aux one, and a 13th finds none
    const held: string[] = [];
    for (let i = 0; i < 12; i++) held.push(await runD(['--network', 'auxnet', 'busybox', 'sleep', '300']));
    const seen = new Set(await Promise.all(held.map(async (id) => (await ok(['inspect', '-f', '{{.NetworkSettings.Networks.auxnet.IPAddress}}', id])).trim())));
    assert.ok(!seen.has(aux), `a container got the auxiliary address ${aux}: ${[...seen].join(' ')}`);
    assert.equal(seen.size, 12, [...seen].join(' '));
    assert.notEqual((await docker(d, ['run', '--rm', '--network', 'auxnet', 'busybox', 'true'])).code, 0, 'the range is used up');
    await ok(['rm', '-f', ...held]);
    assert.equal(await addressOf('auxnet'), `${base}.2`, 'the lowest again');

    // asked for: dockerd's words
    const run = await docker(d, ['run', '--rm', '--network', 'auxnet', '--ip', aux, 'busybox', 'true']);
    assert.equal(run.code, 125);
    assert.match(run.stderr, new RegExp(`Address already in use: ${aux.replace(/\./g, '\\.')}`));
    const c = await runD(['--name', 'aux-peer', 'busybox', 'sleep', '300']);
    const conn = await docker(d, ['network', 'connect', '--ip', aux, 'auxnet', c]);
    assert.notEqual(conn.code, 0);
    assert.match(conn.stderr, /Address already in use/);
    await ok(['rm', '-f', c]);

    // held across a restart (the lease is on disk); the network still hands out the rest
    await d.stop();
    await d.start();
    const again = await docker(d, ['run', '--rm', '--network', 'auxnet', '--ip', aux, 'busybox', 'true']);
    assert.equal(again.code, 125);
    assert.match(again.stderr, /Address already in use/);
    const free = `${base}.6`;
    const fixed = await runD(['--network', 'auxnet', '--ip', free, 'busybox', 'sleep', '300']);
    assert.equal((await ok(['inspect', '-f', '{{.NetworkSettings.Networks.auxnet.IPAddress}}', fixed])).trim(), free);
    await ok(['rm', '-f', fixed]);
  } finally {
    await ok(['network', 'rm', 'auxnet']);
  }
  // its lease dir goes with it, the aux lease too
  await assert.rejects(fs.readdir(path.join(d.graph, 'networks', 'ipam', 'auxnet')), /ENOENT/);
  // the first start on a new network refused by its IPAM leaves a bridge without a MAC: the
  // next start still works (the bridge plugin could not set 00:00:00:00:00:00 back on it)
  await ok(['network', 'create', '--subnet', subnet, '--aux-address', `router=${aux}`, 'auxnet2']);
  try {
    assert.equal((await docker(d, ['run', '--rm', '--network', 'auxnet2', '--ip', aux, 'busybox', 'true'])).code, 125);
    const next = await docker(d, ['run', '--rm', '--network', 'auxnet2', 'busybox', 'true']);
    assert.equal(next.code, 0, next.stderr);
  } finally {
    await ok(['network', 'rm', 'auxnet2']);
  }
});

test('an aux address outside the subnet: the CLI\'s "no matching subnet", the API\'s dockerd ValidateIPAM 400', async () => {
  const base = freeSubnet([tn.subnet, ...pools])[0].replace(/\.0\/24$/, '');
  const cli = await docker(d, ['network', 'create', '--subnet', `${base}.0/28`, '--aux-address', `a=${base}.99`, 'outside']);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, new RegExp(`no matching subnet for aux-address ${base.replace(/\./g, '\\.')}\\.99`));
  const api = await d.api('POST', '/v1.41/networks/create', JSON.stringify({
    Name: 'outside', IPAM: { Driver: 'default', Config: [{ Subnet: `${base}.0/28`, AuxiliaryAddresses: { a: `${base}.99` } }] },
  }));
  assert.equal(api.status, 400);
  assert.equal(JSON.parse(api.body).message, `invalid network config:\n* invalid auxiliary address a: parent subnet ${base}.0/28 doesn't contain this address`);
  // and none without a subnet
  const nosub = await d.api('POST', '/v1.41/networks/create', JSON.stringify({ Name: 'outside', IPAM: { Config: [{ AuxiliaryAddresses: { a: `${base}.9` } }] } }));
  assert.equal(nosub.status, 400);
  assert.equal(JSON.parse(nosub.body).message, 'invalid network config:\n* invalid subnet : invalid CIDR block notation');
  assert.notEqual((await docker(d, ['network', 'inspect', 'outside'])).code, 0);
});

test('IPAM.Options: --ipam-opt alone on a network of the pools; the CLI\'s {} without any; an API create without any, null', async () => {
  await ok(['network', 'create', '--ipam-opt', 'com.example.x=1', 'opted']);
  await ok(['network', 'create', 'plain']);
  try {
    assert.equal((await ok(['network', 'inspect', '-f', '{{json .IPAM.Options}}', 'opted'])).trim(), '{"com.example.x":"1"}');
    assert.equal((await ok(['network', 'inspect', '-f', '{{json .IPAM.Options}}', 'plain'])).trim(), '{}');
    const r = await d.api('POST', '/v1.41/networks/create', JSON.stringify({ Name: 'bare' }));
    assert.equal(r.status, 201, r.body);
    assert.equal((await ok(['network', 'inspect', '-f', '{{json .IPAM.Options}}', 'bare'])).trim(), 'null');
  } finally {
    await docker(d, ['network', 'rm', 'opted', 'plain', 'bare']);
  }
});
