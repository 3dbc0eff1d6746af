// The Engine API changes of 1.42-1.52 in networking and volumes, sent as the raw requests of
// each version (what docker 20.10's CLI sends at /v1.41/, docker 28's at /v1.44+), so that they
// run where no stock CLI is: several networks at create (1.44), a MAC address per endpoint and
// the deprecated container-wide one, GwPriority and the default route (1.48), NetworkSettings
// by version (DNSNames 1.44, Aliases 1.45, the top-level bridge fields gone at 1.52), the
// networks' views (EnableIPv4 1.48, Status 1.52), volume prune's anonymous default (1.42).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { createTestNet, dockerNetConfig, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('network-api-versions', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/portmap': 'containernetworking-plugins' } });

let tn: TestNet;
let d: TestDaemon;

before(async () => {
  tn = await createTestNet('apiv');
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn, 10) });
  await d.loadBusybox();
  for (const n of ['va', 'vb', 'vc']) assert.equal((await api('POST', '/v1.52/networks/create', { Name: n })).status, 201);
});

after(async () => {
  const nets = await fs.readdir(path.join(d?.graph ?? '/nonexistent', 'networks', 'records')).catch(() => [] as string[]);
  await d?.destroy();
  for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
  await tn?.destroy();
});

/** A JSON answer, read field by field. */
type Json = Record<string, any>;

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const r = await d.api(method, url, body === undefined ? undefined : JSON.stringify(body));
  return { status: r.status, json: r.body ? JSON.parse(r.body) as Json : {} };
}

async function create(version: string, name: string, body: Json): Promise<{ status: number; json: Json }> {
  return api('POST', `/v${version}/containers/create?name=${name}`, { Image: 'busybox', Cmd: ['sleep', '300'], ...body });
}

const inspect = async (version: string, ref: string): Promise<Json> => (await api('GET', `/v${version}/containers/${ref}/json`)).json;

const inNetns = (sandboxKey: string, args: string[]) => execFileSync('nsenter', [`--net=${sandboxKey}`, ...args], { encoding: 'utf8' });

test('create: several EndpointsConfig from 1.44, one before (1.41 in its own words, 1.42-1.43 in dockerd 29\'s)', async () => {
  const two = { HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { va: {}, vb: {} } } };
  const old = await create('1.41', 'multi41', two);
  assert.equal(old.status, 400);
  assert.equal(old.json.message, 'Container cannot be connected to network endpoints: va, vb');
  const mid = await create('1.43', 'multi43', two);
  assert.equal(mid.status, 400);
  assert.equal(mid.json.message, 'Container cannot be created with multiple network endpoints: va, vb');
  const r = await create('1.44', 'multi44', two);
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal((await api('POST', '/v1.44/containers/multi44/start')).status, 204);
  const v = await inspect('1.44', 'multi44');
  assert.deepEqual(Object.keys(v.NetworkSettings.Networks).sort(), ['va', 'vb']);
  const out = inNetns(v.NetworkSettings.SandboxKey, ['ip', '-4', '-o', 'addr']);
  for (const n of ['va', 'vb']) assert.ok(out.includes(v.NetworkSettings.Networks[n].IPAddress), `${n}: ${out}`);
  // the main network (NetworkMode) is eth0, with the default route
  assert.match(inNetns(v.NetworkSettings.SandboxKey, ['ip', '-4', 'route', 'show', 'default']), /dev eth0/);
  const net = (await api('GET', '/v1.44/networks/vb')).json;
  assert.ok(net.Containers[v.Id], 'vb lists the container');
  // names resolve on every network the container is on: a peer only on vb, through the
  // DNS server its resolv.conf names (va's), as dockerd's resolver does across networks
  assert.equal((await create('1.44', 'onlyvb', { HostConfig: { NetworkMode: 'vb' } })).status, 201);
  assert.equal((await api('POST', '/v1.44/containers/onlyvb/start')).status, 204);
  const peer = (await inspect('1.44', 'onlyvb')).NetworkSettings.Networks.vb.IPAddress as string;
  const ns = await d.ok(['exec', 'multi44', 'nslookup', 'onlyvb', '127.0.0.11']);
  assert.ok(ns.includes(peer), ns);
  await api('DELETE', '/v1.44/containers/onlyvb?force=1');
  await api('DELETE', '/v1.44/containers/multi44?force=1');
  // NetworkMode by id, its endpoint keyed by name: one endpoint there, with those settings
  const id = (await api('GET', '/v1.44/networks/va')).json.Id as string;
  const byId = await create('1.44', 'byid', { HostConfig: { NetworkMode: id.slice(0, 12) }, NetworkingConfig: { EndpointsConfig: { va: { Aliases: ['x1'] }, vb: {} } } });
  assert.equal(byId.status, 201, JSON.stringify(byId.json));
  const nets = (await inspect('1.45', 'byid')).NetworkSettings.Networks;
  assert.deepEqual(Object.keys(nets).sort(), ['va', 'vb']);
  assert.deepEqual(nets.va.Aliases, ['x1']);
  await api('DELETE', '/v1.44/containers/byid?force=1');
});

test('tsula run with several --network flags and the CSV form, as docker 28 sends them (API 1.44/1.48)', async () => {
  await d.ok(['run', '-d', '--name', 'climulti', '--network', 'va', '--network-alias', 'm1',
    '--network', 'name=vb,alias=m2,gw-priority=3,mac-address=02:42:0d:00:00:07', 'busybox', 'sleep', '300']);
  const v = await inspect('1.48', 'climulti');
  assert.deepEqual(Object.keys(v.NetworkSettings.Networks).sort(), ['va', 'vb']);
  assert.ok(v.NetworkSettings.Networks.va.Aliases.includes('m1'));
  assert.ok(v.NetworkSettings.Networks.vb.Aliases.includes('m2'));
  assert.equal(v.NetworkSettings.Networks.vb.GwPriority, 3);
  assert.equal(v.NetworkSettings.Networks.vb.MacAddress, '02:42:0d:00:00:07');
  // the highest priority gives the default route
  assert.match(inNetns(v.NetworkSettings.SandboxKey, ['ip', '-4', 'route', 'show', 'default']), /dev eth1/);
  const dup = await d.cli(['run', '--network', 'va', '--network', 'va', 'busybox', 'true']);
  assert.deepEqual([dup.code, dup.stderr.split('\n')[0]], [125, 'tsula: network "va" is specified multiple times.']);
  await api('DELETE', '/v1.44/containers/climulti?force=1');
});

test('MAC address: Config.MacAddress before 1.44, per endpoint from 1.44 (the container-wide one moved there, with a warning, or refused)', async () => {
  // 1.41: the container-wide address, on the main network; an endpoint's own is dropped (that API had none)
  let r = await create('1.41', 'mac41', { MacAddress: '02:42:0a:00:00:41', HostConfig: { NetworkMode: 'va' } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.deepEqual(r.json.Warnings, []);
  r = await create('1.41', 'mac41b', { HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { va: { MacAddress: '02:42:0a:00:00:42' } } } });
  assert.equal(r.status, 201);
  assert.equal((await inspect('1.41', 'mac41b')).Config.MacAddress, undefined);
  // 1.44: per endpoint, each on its own interface
  r = await create('1.44', 'mac44', {
    HostConfig: { NetworkMode: 'va' },
    NetworkingConfig: { EndpointsConfig: { va: { MacAddress: '02:42:0a:00:00:44' }, vb: { MacAddress: '02:42:0b:00:00:44' } } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.deepEqual(r.json.Warnings, []);
  assert.equal((await api('POST', '/v1.44/containers/mac44/start')).status, 204);
  const v = await inspect('1.44', 'mac44');
  assert.equal(v.NetworkSettings.Networks.va.MacAddress, '02:42:0a:00:00:44');
  assert.equal(v.NetworkSettings.Networks.vb.MacAddress, '02:42:0b:00:00:44');
  const links = inNetns(v.NetworkSettings.SandboxKey, ['ip', '-o', 'link']);
  assert.match(links, /eth0.*02:42:0a:00:00:44/);
  assert.match(links, /eth1.*02:42:0b:00:00:44/);
  // inspect's Config.MacAddress: the main network's until 1.51, gone at 1.52
  assert.equal(v.Config.MacAddress, '02:42:0a:00:00:44');
  assert.equal((await inspect('1.52', 'mac44')).Config.MacAddress, undefined);
  await api('DELETE', '/v1.44/containers/mac44?force=1');
  // 1.44: the container-wide address is moved to the main endpoint, with dockerd's warning
  r = await create('1.44', 'macwide', { MacAddress: '02:42:0a:00:00:45', HostConfig: { NetworkMode: 'va' } });
  assert.equal(r.status, 201);
  assert.deepEqual(r.json.Warnings, ['The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.']);
  const w = await inspect('1.52', 'macwide');
  assert.equal(w.NetworkSettings.Networks.va.MacAddress, '02:42:0a:00:00:45', 'the configured address, while created');
  // ... and refused where it cannot go or disagrees
  r = await create('1.44', 'macbad1', { MacAddress: '02:42:0a:00:00:46', HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { va: { MacAddress: '02:42:0a:00:00:47' } } } });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty');
  r = await create('1.44', 'macbad2', { MacAddress: '02:42:0a:00:00:46', HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { vb: {} } } });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /^unable to migrate container-wide MAC address to a specific network: HostConfig.NetworkMode must match/);
  r = await create('1.43', 'macbad3', { MacAddress: '02:42:0a:00:00:46', HostConfig: { NetworkMode: 'host' } });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'conflicting options: mac-address and the network mode');
});

test('GwPriority (1.48): the highest gives the default route, at start and when connected; ignored before 1.48', async () => {
  const eps = { va: { GwPriority: 1 }, vb: { GwPriority: 10 } };
  let r = await create('1.47', 'gw47', { HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: eps } });
  assert.equal(r.status, 201);
  assert.equal((await inspect('1.52', 'gw47')).NetworkSettings.Networks.vb.GwPriority, 0);
  r = await create('1.48', 'gw48', { HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: eps } });
  assert.equal(r.status, 201);
  assert.equal((await api('POST', '/v1.48/containers/gw48/start')).status, 204);
  const v = await inspect('1.48', 'gw48');
  assert.equal(v.NetworkSettings.Networks.vb.GwPriority, 10);
  assert.equal((await inspect('1.47', 'gw48')).NetworkSettings.Networks.vb.GwPriority, undefined, 'not a field before 1.48');
  const key = v.NetworkSettings.SandboxKey;
  assert.match(inNetns(key, ['ip', '-4', 'route', 'show', 'default']), new RegExp(`via ${v.NetworkSettings.Networks.vb.Gateway} dev eth1`));
  // a connect with a higher priority takes the route; its disconnect gives it back
  assert.equal((await api('POST', '/v1.48/networks/vc/connect', { Container: 'gw48', EndpointConfig: { GwPriority: 20 } })).status, 200);
  assert.match(inNetns(key, ['ip', '-4', 'route', 'show', 'default']), /dev eth2/);
  assert.equal((await api('POST', '/v1.48/networks/vc/disconnect', { Container: 'gw48' })).status, 200);
  assert.match(inNetns(key, ['ip', '-4', 'route', 'show', 'default']), /dev eth1/);
  // tsula's CLI as docker 28's: --gw-priority sent at 1.48
  await d.ok(['network', 'connect', '--gw-priority', '30', 'vc', 'gw48']);
  assert.equal((await inspect('1.48', 'gw48')).NetworkSettings.Networks.vc.GwPriority, 30);
  assert.match(inNetns(key, ['ip', '-4', 'route', 'show', 'default']), /dev eth2/);
  await d.ok(['network', 'disconnect', 'vc', 'gw48']);
  // 1.44's MacAddress on connect: taken, and (as dockerd until 1.54) not applied; 1.41 refuses it as before
  assert.equal((await api('POST', '/v1.41/networks/vc/connect', { Container: 'gw48', EndpointConfig: { MacAddress: '02:42:0c:00:00:01' } })).status, 400);
  assert.equal((await api('POST', '/v1.44/networks/vc/connect', { Container: 'gw48', EndpointConfig: { MacAddress: '02:42:0c:00:00:01' } })).status, 200);
  assert.notEqual((await inspect('1.44', 'gw48')).NetworkSettings.Networks.vc.MacAddress, '02:42:0c:00:00:01');
  await api('DELETE', '/v1.44/containers/gw48?force=1');
  await api('DELETE', '/v1.44/containers/gw47?force=1');
});

test('interface sysctls: DriverOpts from 1.46 (create and connect), a top-level eth0 one moved there before 1.48, refused from 1.48', async () => {
  const SC = 'com.docker.network.endpoint.sysctls';
  const readSc = (key: string, ifName: string, sc: string) => inNetns(key, ['cat', `/proc/sys/net/ipv4/conf/${ifName}/${sc}`]).trim();
  let r = await create('1.46', 'sc46', {
    HostConfig: { NetworkMode: 'va' },
    NetworkingConfig: { EndpointsConfig: { va: {}, vb: { DriverOpts: { [SC]: 'net.ipv4.conf.IFNAME.log_martians=1,net.ipv4.conf.IFNAME.arp_ignore=2' } } } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal((await api('POST', '/v1.46/containers/sc46/start')).status, 204);
  const v = await inspect('1.46', 'sc46');
  assert.deepEqual(v.NetworkSettings.Networks.vb.DriverOpts, { [SC]: 'net.ipv4.conf.IFNAME.log_martians=1,net.ipv4.conf.IFNAME.arp_ignore=2' });
  const key = v.NetworkSettings.SandboxKey as string;
  assert.equal(readSc(key, 'eth1', 'log_martians'), '1');
  assert.equal(readSc(key, 'eth1', 'arp_ignore'), '2');
  assert.equal(readSc(key, 'eth0', 'log_martians'), '0');
  assert.equal((await api('POST', '/v1.46/networks/vc/connect', { Container: 'sc46', EndpointConfig: { DriverOpts: { [SC]: 'net.ipv4.conf.ifname.log_martians=1' } } })).status, 200);
  assert.equal(readSc(key, 'eth2', 'log_martians'), '1');
  await api('DELETE', '/v1.46/containers/sc46?force=1');
  // IPv6 is off on an IPv4-only network's interface, unless the endpoint's own sysctl says otherwise
  r = await create('1.48', 'sc6', {
    HostConfig: { NetworkMode: 'va' },
    NetworkingConfig: { EndpointsConfig: { va: {}, vb: { DriverOpts: { [SC]: 'net.ipv6.conf.IFNAME.disable_ipv6=0' } } } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal((await api('POST', '/v1.48/containers/sc6/start')).status, 204);
  const key6 = (await inspect('1.48', 'sc6')).NetworkSettings.SandboxKey as string;
  const v6 = (ifName: string) => inNetns(key6, ['cat', `/proc/sys/net/ipv6/conf/${ifName}/disable_ipv6`]).trim();
  assert.deepEqual([v6('eth0'), v6('eth1')], ['1', '0']);
  // the same at a running container's connect
  assert.equal((await api('POST', '/v1.48/networks/vc/connect', { Container: 'sc6', EndpointConfig: { DriverOpts: { [SC]: 'net.ipv6.conf.IFNAME.disable_ipv6=0' } } })).status, 200);
  assert.equal(v6('eth2'), '0');
  await api('DELETE', '/v1.48/containers/sc6?force=1');
  r = await create('1.46', 'scbad', { HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { va: { DriverOpts: { [SC]: 'net.ipv4.conf.eth0.log_martians=1' } } } } });
  assert.equal(r.status, 400);
  assert.match(r.json.message, /^unrecognised network interface sysctl 'net.ipv4.conf.eth0.log_martians=1'/);
  // a top-level one of eth0: moved with a warning before 1.48, refused (a plain error: 500) from 1.48
  r = await create('1.47', 'sc47', { HostConfig: { NetworkMode: 'va', Sysctls: { 'net.ipv4.conf.eth0.log_martians': '1' } } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.deepEqual(r.json.Warnings, [`Migrated sysctl "net.ipv4.conf.eth0.log_martians" to DriverOpts{"${SC}":"net.ipv4.conf.IFNAME.log_martians=1"}.`]);
  assert.equal((await api('POST', '/v1.47/containers/sc47/start')).status, 204);
  assert.equal(readSc((await inspect('1.47', 'sc47')).NetworkSettings.SandboxKey, 'eth0', 'log_martians'), '1');
  await api('DELETE', '/v1.47/containers/sc47?force=1');
  r = await create('1.48', 'sc48', { HostConfig: { NetworkMode: 'va', Sysctls: { 'net.ipv4.conf.eth0.log_martians': '1' } } });
  assert.equal(r.status, 500);
  assert.equal(r.json.message, `interface specific sysctl setting "net.ipv4.conf.eth0.log_martians" must be supplied using driver option '${SC}'`);
  // 1.41 as before: the top-level one stays where it is (set by the runtime), no endpoint driver options
  r = await create('1.41', 'sc41', { HostConfig: { NetworkMode: 'va', Sysctls: { 'net.ipv4.conf.eth0.log_martians': '1' } } });
  assert.equal(r.status, 201);
  assert.deepEqual(r.json.Warnings, []);
  r = await create('1.41', 'sc41b', { HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { va: { DriverOpts: { [SC]: 'net.ipv4.conf.IFNAME.log_martians=1' } } } } });
  assert.equal(r.status, 400);
});

test('NetworkSettings by version: 1.41 as dockerd 20.10 (the short id appended once joined), DNSNames 1.44, Aliases without the short id 1.45, no top-level bridge fields 1.52', async () => {
  const r = await create('1.44', 'ns', { Hostname: 'nshost', HostConfig: { NetworkMode: 'va' }, NetworkingConfig: { EndpointsConfig: { va: { Aliases: ['web'] } } } });
  assert.equal(r.status, 201);
  const short = r.json.Id.slice(0, 12);
  // never started: no DNS names yet, but on a network connected to (dockerd names it then)
  assert.equal((await api('POST', '/v1.44/networks/vb/connect', { Container: 'ns' })).status, 200);
  const created = (await inspect('1.44', 'ns')).NetworkSettings.Networks;
  assert.equal(created.va.DNSNames, null);
  assert.deepEqual(created.vb.DNSNames, ['ns', short, 'nshost']);
  // dockerd 20.10 appends the short id to the stored aliases when the endpoint joins (its
  // updateNetworkConfig, at a start or a connect), unless it is there: never twice
  const created41 = (await inspect('1.41', 'ns')).NetworkSettings.Networks;
  assert.deepEqual(created41.va.Aliases, ['web']);
  assert.deepEqual(created41.vb.Aliases, [short]);
  assert.equal((await api('POST', '/v1.44/networks/vb/disconnect', { Container: 'ns' })).status, 200);
  assert.equal((await api('POST', '/v1.41/networks/vb/connect', { Container: 'ns', EndpointConfig: { Aliases: ['x', short, 'y'] } })).status, 200);
  assert.deepEqual((await inspect('1.41', 'ns')).NetworkSettings.Networks.vb.Aliases, ['x', short, 'y']);
  assert.equal((await api('POST', '/v1.44/networks/vb/disconnect', { Container: 'ns' })).status, 200);
  assert.equal((await api('POST', '/v1.44/containers/ns/start')).status, 204);
  const v41 = await inspect('1.41', 'ns');
  const ep41 = v41.NetworkSettings.Networks.va;
  assert.deepEqual(ep41.Aliases, ['web', short]);
  assert.equal('DNSNames' in ep41, false);
  assert.deepEqual(Object.keys(ep41), ['IPAMConfig', 'Links', 'Aliases', 'NetworkID', 'EndpointID', 'Gateway', 'IPAddress', 'IPPrefixLen',
    'IPv6Gateway', 'GlobalIPv6Address', 'GlobalIPv6PrefixLen', 'MacAddress', 'DriverOpts']);
  assert.equal(v41.NetworkSettings.IPAddress, '', 'top-level fields: the default bridge only');
  const v44 = await inspect('1.44', 'ns');
  assert.deepEqual(v44.NetworkSettings.Networks.va.Aliases, ['web', short, 'nshost']);
  assert.deepEqual(v44.NetworkSettings.Networks.va.DNSNames, ['ns', 'web', short, 'nshost']);
  const v45 = await inspect('1.45', 'ns');
  assert.deepEqual(v45.NetworkSettings.Networks.va.Aliases, ['web']);
  assert.ok('HairpinMode' in v45.NetworkSettings && 'IPAddress' in v45.NetworkSettings);
  const v52 = await inspect('1.52', 'ns');
  assert.deepEqual(Object.keys(v52.NetworkSettings), ['SandboxID', 'SandboxKey', 'Ports', 'Networks']);
  assert.equal(v52.NetworkSettings.Networks.va.IPAddress, v45.NetworkSettings.Networks.va.IPAddress);
  // the list: 1.41 the stored aliases as inspect's, then the aliases as given (dockerd never padded the list's)
  const list = async (ver: string) => ((await api('GET', `/v${ver}/containers/json?filters=${encodeURIComponent('{"name":["ns"]}')}`)).json as unknown as Json[])[0]!;
  assert.deepEqual((await list('1.41')).NetworkSettings.Networks.va.Aliases, ['web', short]);
  assert.deepEqual((await list('1.44')).NetworkSettings.Networks.va.Aliases, ['web']);
  assert.deepEqual((await list('1.44')).NetworkSettings.Networks.va.DNSNames, ['ns', 'web', short, 'nshost']);
  await api('DELETE', '/v1.44/containers/ns?force=1');
});

test('networks by version: list without Containers from 1.42, EnableIPv4 1.48, inspect Status 1.52', async () => {
  const l41 = (await api('GET', '/v1.41/networks')).json as unknown as Json[];
  assert.ok(l41.every((n) => 'Containers' in n && !('EnableIPv4' in n)));
  const l44 = (await api('GET', '/v1.44/networks')).json as unknown as Json[];
  assert.ok(l44.every((n) => !('Containers' in n) && !('EnableIPv4' in n)));
  assert.deepEqual(((await api('GET', '/v1.48/networks/')).json as unknown as Json[]).map((n) => n.Id).sort(), l44.map((n) => n.Id).sort(), 'GET /networks/ lists too');
  const l48 = (await api('GET', '/v1.48/networks')).json as unknown as Json[];
  assert.ok(l48.every((n) => n.EnableIPv4 === true));
  const i51 = (await api('GET', '/v1.51/networks/va')).json;
  assert.equal('Status' in i51, false);
  assert.deepEqual(i51.Containers, {});
  const i52 = (await api('GET', '/v1.52/networks/va')).json;
  const subnet = i52.IPAM.Config[0].Subnet as string;
  // network, gateway and broadcast addresses: nothing else on it
  assert.deepEqual(i52.Status, { IPAM: { Subnets: { [subnet]: { IPsInUse: 3, DynamicIPsAvailable: 253 } } } });
  assert.equal('Status' in (await api('GET', '/v1.52/networks/none')).json, false);
  // an IPv6 pool's counts are uint64s (2^64 - anycast - gateway): written exactly, as Go reads them
  assert.equal((await api('POST', '/v1.52/networks/create', { Name: 'v6s', EnableIPv6: true, IPAM: { Config: [{ Subnet: 'fd5a:77::/64' }] } })).status, 201);
  const raw = (await d.api('GET', '/v1.52/networks/v6s')).body;
  assert.match(raw, /"fd5a:77::\/64":\{"IPsInUse":2,"DynamicIPsAvailable":18446744073709551614\}/);
  assert.equal((await api('DELETE', '/v1.52/networks/v6s')).status, 204);
  // EnableIPv4: false needs dockerd's experimental features; before 1.48 it is not a field
  let r = await api('POST', '/v1.48/networks/create', { Name: 'nov4', EnableIPv4: false });
  assert.equal(r.status, 400);
  assert.equal(r.json.message, 'IPv4 can only be disabled if experimental features are enabled');
  assert.equal((await api('DELETE', '/v1.47/networks/vc')).status, 204); // its subnet, for this one (three pools)
  r = await api('POST', '/v1.47/networks/create', { Name: 'nov4', EnableIPv4: false });
  assert.equal(r.status, 201);
  assert.equal((await api('DELETE', '/v1.47/networks/nov4')).status, 204);
});

test('volume prune: every unused volume at 1.41, the anonymous ones from 1.42 (all=true: every one), with their label', async () => {
  const mk = async (v: string, body: Json) => (await api('POST', `/v${v}/volumes/create`, body)).json.Name as string;
  const reset = async () => {
    await mk('1.41', { Name: 'named' });
    return mk('1.41', {});
  };
  let anon = await reset();
  assert.equal((await api('GET', `/v1.41/volumes/${anon}`)).json.Labels, null);
  assert.deepEqual((await api('GET', `/v1.44/volumes/${anon}`)).json.Labels, { 'com.docker.volume.anonymous': '' });
  const f = encodeURIComponent('{"label":["com.docker.volume.anonymous"]}');
  assert.deepEqual(((await api('GET', `/v1.44/volumes?filters=${f}`)).json.Volumes as Json[]).map((v) => v.Name), [anon]);
  let p = (await api('POST', '/v1.44/volumes/prune')).json;
  assert.deepEqual(p.VolumesDeleted, [anon]);
  anon = await mk('1.41', {});
  // the label filters see the anonymous label
  p = (await api('POST', `/v1.44/volumes/prune?filters=${encodeURIComponent('{"all":["true"],"label!":["com.docker.volume.anonymous"]}')}`)).json;
  assert.deepEqual(p.VolumesDeleted, ['named']);
  await mk('1.41', { Name: 'named' });
  p = (await api('POST', `/v1.44/volumes/prune?filters=${encodeURIComponent('{"all":["true"]}')}`)).json;
  assert.deepEqual([...p.VolumesDeleted].sort(), [anon, 'named'].sort());
  anon = await reset();
  p = (await api('POST', '/v1.41/volumes/prune')).json;
  assert.deepEqual([...p.VolumesDeleted].sort(), [anon, 'named'].sort());
  const bad = await api('POST', `/v1.44/volumes/prune?filters=${encodeURIComponent('{"all":["maybe"]}')}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, 'invalid filter \'all\': strconv.ParseBool: parsing "maybe": invalid syntax'); // moby's withPrune
  // below 1.42 dockerd adds all=true itself: the same all=true is taken, an all=false makes two values
  assert.equal((await api('POST', `/v1.41/volumes/prune?filters=${encodeURIComponent('{"all":["true"]}')}`)).status, 200);
  assert.equal((await api('POST', `/v1.41/volumes/prune?filters=${encodeURIComponent('{"all":["false"]}')}`)).status, 400);
  const cluster = await api('POST', '/v1.42/volumes/create', { Name: 'cv', ClusterVolumeSpec: {} });
  assert.equal(cluster.status, 503);
  const upd = await api('PUT', '/v1.42/volumes/named?version=1', {});
  assert.equal(upd.status, 503);
  assert.equal(upd.json.message, 'volume update only valid for cluster volumes, but swarm is unavailable');
  assert.equal((await api('PUT', '/v1.41/volumes/named?version=1', {})).status, 405);
});

test('parallel network creates: one network per name (the rest: dockerd\'s conflict), and no two with one subnet', async () => {
  const same = await Promise.all(Array.from({ length: 12 }, () => api('POST', '/v1.44/networks/create', { Name: 'racy' })));
  assert.equal(same.filter((r) => r.status === 201).length, 1, JSON.stringify(same.map((r) => r.status)));
  for (const r of same.filter((x) => x.status !== 201)) assert.deepEqual([r.status, r.json.message], [409, 'network with name racy already exists']);
  const many = await Promise.all(Array.from({ length: 6 }, (_, i) => api('POST', '/v1.44/networks/create', { Name: `par${i}` })));
  assert.deepEqual(many.map((r) => r.status), Array(6).fill(201));
  const subnets = await Promise.all(['racy', ...Array.from({ length: 6 }, (_, i) => `par${i}`)].map(async (n) => (await api('GET', `/v1.44/networks/${n}`)).json.IPAM.Config[0].Subnet as string));
  assert.equal(new Set(subnets).size, subnets.length, subnets.join(' '));
  for (const n of ['racy', ...Array.from({ length: 6 }, (_, i) => `par${i}`)]) assert.equal((await api('DELETE', `/v1.44/networks/${n}`)).status, 204);
});
