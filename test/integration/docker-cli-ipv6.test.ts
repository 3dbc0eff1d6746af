// IPv6 on docker networks, from the stock docker CLI and the raw API against tsulad: a user
// network with --ipv6 (its own subnet or one tsulad makes), the default bridge with
// daemon.json ipv6 + fixed-cidr-v6; each container gets an address of each family (inspect,
// network inspect, /etc/hosts, the network's DNS server's AAAA answers, ping6), --ip6 and
// an IPv6 --link-local-ip, dockerd's refusals, the ip6tables rules made and removed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { createTestNet, dockerNetConfig, freeSubnet, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-ipv6', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/sbin/ip6tables': 'iptables' } });

let tn: TestNet;
let d: TestDaemon;
// unique local prefixes of this run's own: nothing of the host's
// (four hex digits, the first not 0: printed as given, RFC 5952 drops leading zeros)
const tag = (0x1000 + (randomBytes(2).readUInt16BE(0) % 0xe000)).toString(16);
const BRIDGE6 = `fd7e:${tag}:1::/64`;
const USER6 = `fd7e:${tag}:2::/64`;
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; sleep 300 & wait'];

const ok = (args: string[]): Promise<string> => dockerOk(d, args);
const inspect = async (id: string, f: string) => (await ok(['inspect', '-f', f, id])).trim();
const api = (method: string, url: string, body?: unknown) => d.api(method, url, body === undefined ? undefined : JSON.stringify(body));
const ip6tables = () => execFileSync('ip6tables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

before(async () => {
  dockerCliPath();
  tn = await createTestNet('ip6');
  d = await TestDaemon.create({ configJson: { ...dockerNetConfig(tn), ipv6: true, 'fixed-cidr-v6': BRIDGE6 } });
  await d.loadBusybox();
});

after(async () => {
  const nets = await fs.readdir(path.join(d?.graph ?? '/nonexistent', 'networks', 'records')).catch(() => [] as string[]);
  await d?.destroy();
  for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
  await tn?.destroy();
});

test('network create --ipv6 --subnet: an address of each family (inspect, network inspect, /etc/hosts), AAAA from the network\'s DNS server, ping6 by name, --ip6; ip6tables rules made and removed', async () => {
  await ok(['network', 'create', '--ipv6', '--subnet', USER6, 'v6net']);
  const net = JSON.parse(await ok(['network', 'inspect', 'v6net']))[0] as { EnableIPv6: boolean; IPAM: { Config: Array<{ Subnet: string; Gateway: string }> }; Id: string };
  assert.equal(net.EnableIPv6, true);
  assert.equal(net.IPAM.Config.length, 2);
  assert.deepEqual(net.IPAM.Config[1], { Subnet: USER6, Gateway: USER6.replace('::/64', '::1') });
  await ok(['run', '-d', '--name', 'six1', '--network', 'v6net', 'busybox', ...SLEEP]);
  const addr = await inspect('six1', '{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}');
  assert.ok(addr.startsWith(USER6.replace('::/64', '::')), addr);
  assert.equal(await inspect('six1', '{{.NetworkSettings.Networks.v6net.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.v6net.IPv6Gateway}}'), `64 ${USER6.replace('::/64', '::1')}`);
  const eps = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .Containers}}', 'v6net'])) as Record<string, { IPv6Address: string }>;
  assert.deepEqual(Object.values(eps).map((e) => e.IPv6Address), [`${addr}/64`]);
  assert.match(await ok(['exec', 'six1', 'cat', '/etc/hosts']), new RegExp(`^${addr}\\t`, 'm'));
  // a fixed address, and the peer by name over IPv6
  const fixed = USER6.replace('::/64', '::f00d');
  const r = await docker(d, ['run', '--rm', '--network', 'v6net', '--ip6', fixed, 'busybox', 'sh', '-c', 'ip -6 addr show eth0; nslookup -type=aaaa six1; ping6 -c1 -W5 six1']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`inet6 ${fixed}/64 scope global`));
  assert.match(r.stdout, new RegExp(`Address: ${addr}$`, 'm'), 'the AAAA answer');
  assert.match(r.stdout, /1 packets received/);
  const rules = ip6tables().split('\n').filter((l) => l.includes(`br-${net.Id.slice(0, 12)}`));
  assert.ok(rules.some((l) => l.includes(`-s ${USER6} ! -o br-${net.Id.slice(0, 12)} -j MASQUERADE`)), rules.join('\n'));
  await ok(['rm', '-f', 'six1']);
  await ok(['network', 'rm', 'v6net']);
  assert.ok(!ip6tables().includes(`br-${net.Id.slice(0, 12)}`), 'its ip6tables chains go with it');
});

test('--ipv6 without a subnet: a /64 of a unique local prefix; --ip and --ip6 on it (moby\'s TestSetIPWithNoConfiguredSubnet, dockerd 28 and 29.1+), connect --ip/--ip6; outside the subnet or on a network without IPv6: dockerd 29.1\'s refusal', async () => {
  await ok(['network', 'create', '--ipv6', 'autov6']);
  const cfg = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'autov6'])) as Array<{ Subnet: string }>;
  assert.match(cfg[1]!.Subnet, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
  // the subnets' second addresses, as the upstream test (their first is the gateway)
  const auto4 = cfg[0]!.Subnet.replace(/0\/\d+$/, '2');
  const auto6 = cfg[1]!.Subnet.replace('::/64', '::2');
  const shown = await docker(d, ['run', '--rm', '--network', 'autov6', '--ip', auto4, '--ip6', auto6, 'busybox', 'ip', 'addr', 'show', 'eth0']);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`inet ${auto4.replace(/\./g, '\\.')}/`));
  assert.match(shown.stdout, new RegExp(`inet6 ${auto6}/64`));
  await ok(['network', 'create', 'v4only']);
  await ok(['network', 'create', '--ipv6', '--subnet', `fd7e:${tag}:3::/64`, 'v6b']);
  for (const [net, flag, ip] of [
    ['v4only', '--ip6', `fd7e:${tag}:3::9`],
    ['v6b', '--ip6', `fd7e:${tag}:4::9`],
    ['autov6', '--ip6', `fd7e:${tag}:4::9`],
    ['autov6', '--ip', '192.0.2.9'],
  ] as const) {
    const c = await docker(d, ['create', '--network', net, flag, ip, 'busybox']);
    assert.notEqual(c.code, 0, `${net} ${ip}`);
    assert.match(c.stderr, new RegExp(`no configured subnet contains IP address ${ip.replace(/\./g, '\\.')}`));
  }
  const bad = await docker(d, ['create', '--network', 'v6b', '--ip6', '10.1.2.3', 'busybox']);
  assert.notEqual(bad.code, 0);
  await ok(['run', '-d', '--name', 'con6', '--network', 'v4only', 'busybox', ...SLEEP]);
  const [fixed4, fixed6] = [cfg[0]!.Subnet.replace(/0\/\d+$/, '77'), cfg[1]!.Subnet.replace('::/64', '::beef')];
  await ok(['network', 'connect', '--ip', fixed4, '--ip6', fixed6, 'autov6', 'con6']);
  assert.equal(await inspect('con6', '{{.NetworkSettings.Networks.autov6.IPAddress}} {{.NetworkSettings.Networks.autov6.GlobalIPv6Address}}'), `${fixed4} ${fixed6}`);
  await ok(['network', 'connect', '--ip6', `fd7e:${tag}:3::beef`, 'v6b', 'con6']);
  assert.equal(await inspect('con6', '{{.NetworkSettings.Networks.v6b.GlobalIPv6Address}} {{.NetworkSettings.Networks.v6b.IPAMConfig.IPv6Address}}'), `fd7e:${tag}:3::beef fd7e:${tag}:3::beef`);
  assert.match(await ok(['exec', 'con6', 'ip', '-6', 'addr', 'show']), new RegExp(`inet6 fd7e:${tag}:3::beef/64`));
  await ok(['rm', '-f', 'con6']);
  await ok(['network', 'rm', 'autov6', 'v4only', 'v6b']);
});

test('fixed addresses, --ip6 alone or with --ip, and none: the container starts again and again with the same (restart, stop + start)', async () => {
  const [v4] = freeSubnet([tn.subnet]);
  const sub6 = `fd7e:${tag}:6::/64`;
  await ok(['network', 'create', '--ipv6', '--subnet', v4, '--subnet', sub6, 'fixednet']);
  const ip4 = v4.replace(/0\/24$/, '77');
  const ip6 = sub6.replace('::/64', '::77');
  await ok(['run', '-d', '--name', 'both', '--network', 'fixednet', '--ip', ip4, '--ip6', ip6, 'busybox', ...SLEEP]);
  await ok(['run', '-d', '--name', 'only6', '--network', 'fixednet', '--ip6', sub6.replace('::/64', '::78'), 'busybox', ...SLEEP]);
  // no fixed address: it asks for the ones it had, as for IPv4 (dockerd's IPAM gives the lowest free one back)
  await ok(['run', '-d', '--name', 'dyn', '--network', 'fixednet', 'busybox', ...SLEEP]);
  const addrs = (n: string) => inspect(n, '{{.NetworkSettings.Networks.fixednet.IPAddress}} {{.NetworkSettings.Networks.fixednet.GlobalIPv6Address}}');
  assert.equal(await addrs('both'), `${ip4} ${ip6}`);
  for (const n of ['both', 'only6', 'dyn']) {
    const before = await addrs(n);
    await ok(['restart', '-t', '1', n]);
    assert.equal(await addrs(n), before, `${n}: docker restart`);
    await ok(['stop', '-t', '1', n]);
    await ok(['start', n]);
    assert.equal(await addrs(n), before, `${n}: stop + start`);
  }
  await ok(['rm', '-f', 'both', 'only6', 'dyn']);
  await ok(['network', 'rm', 'fixednet']);
});

test('the raw API as docker-py sends it: an IPv6 pool with an IPRange and a gateway; link-local IPs of both families on the interface', async () => {
  const sub = `fd7e:${tag}:5::/64`;
  const created = await api('POST', '/v1.41/networks/create', {
    Name: 'v6range', EnableIPv6: true, IPAM: { Driver: 'default', Config: [{ Subnet: sub, IPRange: `fd7e:${tag}:5::/96`, Gateway: `fd7e:${tag}:5::ffff` }] },
  });
  assert.equal(created.status, 201, created.body);
  const cfg = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'v6range'])) as Array<Record<string, string>>;
  assert.deepEqual(cfg[1], { Subnet: sub, IPRange: `fd7e:${tag}:5::/96`, Gateway: `fd7e:${tag}:5::ffff` });
  const c = await api('POST', '/v1.41/containers/create?name=ll6', {
    Image: 'busybox', Cmd: SLEEP, HostConfig: { NetworkMode: 'v6range' },
    NetworkingConfig: { EndpointsConfig: { v6range: { IPAMConfig: { LinkLocalIPs: ['169.254.8.8', 'fe80::1'] } } } },
  });
  assert.equal(c.status, 201, c.body);
  await ok(['start', 'll6']);
  assert.equal(await inspect('ll6', '{{json .NetworkSettings.Networks.v6range.IPAMConfig.LinkLocalIPs}}'), '["169.254.8.8","fe80::1"]');
  const a = await ok(['exec', 'll6', 'ip', 'addr', 'show', 'eth0']);
  assert.match(a, /inet 169\.254\.8\.8\/16/);
  assert.match(a, /inet6 fe80::1\/64/);
  assert.match(await inspect('ll6', '{{.NetworkSettings.Networks.v6range.GlobalIPv6Address}}'), new RegExp(`^fd7e:${tag}:5::[0-9a-f]{1,4}$`), 'from the /96');
  await ok(['rm', '-f', 'll6']);
  await ok(['network', 'rm', 'v6range']);
});

test('daemon.json ipv6 + fixed-cidr-v6: the default bridge has IPv6 (inspect\'s top-level fields too), a legacy link\'s hosts line of each family', async () => {
  const cfg = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge'])) as Array<{ Subnet: string }>;
  assert.equal(cfg[1]?.Subnet, BRIDGE6);
  await ok(['run', '-d', '--name', 'b6', 'busybox', ...SLEEP]);
  const addr = await inspect('b6', '{{.NetworkSettings.Networks.bridge.GlobalIPv6Address}}');
  assert.ok(addr.startsWith(BRIDGE6.replace('::/64', '::')), addr);
  // API 1.41's deprecated top-level fields (the default bridge's endpoint)
  const old = JSON.parse((await api('GET', '/v1.41/containers/b6/json')).body) as { NetworkSettings: { GlobalIPv6Address: string; IPv6Gateway: string } };
  assert.equal(old.NetworkSettings.GlobalIPv6Address, addr);
  assert.equal(old.NetworkSettings.IPv6Gateway, BRIDGE6.replace('::/64', '::1'));
  const hosts = await ok(['run', '--rm', '--link', 'b6:peer', 'busybox', 'cat', '/etc/hosts']);
  assert.match(hosts, new RegExp(`^${addr}\\tpeer `, 'm'));
  await ok(['rm', '-f', 'b6']);
});

test('published ports on a network with IPv6: 0.0.0.0 and [::] on one host port (docker port, ps, inspect, as dockerd 28), reachable over the host\'s IPv6 address and held from host programs; -p 0.0.0.0:… stays IPv4', async () => {
  const sub = `fd7e:${tag}:5::/64`;
  const gw = sub.replace('::/64', '::1');
  await ok(['network', 'create', '--ipv6', '--subnet', sub, 'v6pub']);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await ok(['run', '-d', '--name', 'pub6', '--network', 'v6pub', '-p', `${port}:80`, '-p', '0.0.0.0::81', '-p', '82', 'busybox', 'httpd', '-f', '-p', '80']);
  // (docker 20.10 prints [::] bare: ":::PORT"; later CLIs bracket it)
  const lines = (await ok(['port', 'pub6'])).trim().split('\n').map((l) => l.replace(' -> :::', ' -> [::]:')).sort();
  const any = (await inspect('pub6', '{{(index (index .NetworkSettings.Ports "82/tcp") 0).HostPort}}'));
  assert.deepEqual(lines, [`80/tcp -> 0.0.0.0:${port}`, `80/tcp -> [::]:${port}`, `81/tcp -> 0.0.0.0:${(await inspect('pub6', '{{(index (index .NetworkSettings.Ports "81/tcp") 0).HostPort}}'))}`,
    `82/tcp -> 0.0.0.0:${any}`, `82/tcp -> [::]:${any}`].sort());
  assert.equal(await inspect('pub6', '{{json (index .NetworkSettings.Ports "80/tcp")}}'), `[{"HostIp":"0.0.0.0","HostPort":"${port}"},{"HostIp":"::","HostPort":"${port}"}]`);
  assert.match(await ok(['ps', '--filter', 'name=pub6', '--format', '{{.Ports}}']), new RegExp(`(\\[::\\]|::):${port}->80/tcp`));
  // a host program can't take the IPv6 side either
  const taken = spawnSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s.bind(("::", ${port}))`], { encoding: 'utf8' });
  assert.notEqual(taken.status, 0, 'the [::] port is held');
  assert.match(taken.stderr, /Address already in use/);
  // over the host's IPv6 address (the bridge's gateway): portmap's ip6tables DNAT
  let status = 0;
  for (let i = 0; i < 50 && !status; i++) {
    status = await fetch(`http://[${gw}]:${port}/`).then((r) => r.status, () => 0);
    if (!status) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 404, 'busybox httpd answers over IPv6');
  await ok(['rm', '-f', 'pub6']);
  await ok(['network', 'rm', 'v6pub']);
});

test('AAAA of a peer on two networks, the first without IPv6: the next network\'s address (libnetwork\'s resolveName), A still the first\'s', async () => {
  await ok(['network', 'create', 'plain4']);
  await ok(['network', 'create', '--ipv6', '--subnet', `fd7e:${tag}:6::/64`, 'dual6']);
  const mk = async (name: string) => {
    const id = (await ok(['create', '--name', name, '--network', 'plain4', 'busybox', ...SLEEP])).trim();
    await ok(['network', 'connect', 'dual6', id]);
    await ok(['start', id]);
  };
  await mk('two-a');
  await mk('two-b');
  const v6 = await inspect('two-b', '{{.NetworkSettings.Networks.dual6.GlobalIPv6Address}}');
  const r = await docker(d, ['exec', 'two-a', 'nslookup', '-type=aaaa', 'two-b']);
  assert.match(r.stdout, new RegExp(`Address: ${v6}$`, 'm'), r.stdout + r.stderr);
  assert.equal((await docker(d, ['exec', 'two-a', 'ping6', '-c1', '-W5', 'two-b'])).code, 0);
  // the default routes as libnetwork's selectGatewayEndpoint picks them: the dual-stack
  // network's for both families (moby's TestGatewaySelection), at a start and at a connect
  const gw6 = await inspect('two-a', '{{.NetworkSettings.Networks.dual6.IPv6Gateway}}');
  const gw4 = await inspect('two-a', '{{.NetworkSettings.Networks.dual6.Gateway}}');
  const routes = async (c: string) => [(await ok(['exec', c, 'ip', '-4', 'route', 'show', 'default'])).trim(), (await ok(['exec', c, 'ip', '-6', 'route', 'show', 'default'])).trim()];
  const [r4, r6] = await routes('two-a');
  assert.match(r4, new RegExp(`^default via ${gw4.replace(/\./g, '\\.')} dev eth1`), r4);
  assert.match(r6, new RegExp(`^default via ${gw6} dev eth1`), r6);
  await ok(['run', '-d', '--name', 'two-c', '--network', 'plain4', 'busybox', ...SLEEP]);
  assert.deepEqual((await routes('two-c'))[1], '', 'no IPv6 way out on plain4 alone');
  await ok(['network', 'connect', 'dual6', 'two-c']);
  const [c4, c6] = await routes('two-c');
  assert.match(c4, /^default via \S+ dev eth1/, c4);
  assert.match(c6, new RegExp(`^default via ${gw6} dev eth1`), c6);
  await ok(['rm', '-f', 'two-a', 'two-b', 'two-c']);
  await ok(['network', 'rm', 'plain4', 'dual6']);
});

test('IPv6 off in a container (--sysctl) or on its interface (endpoint sysctl): no IPv6 address, no AAAA, "bad address" at once (moby\'s TestContainerDisabledIPv6); a link-local subnet (fe80::/64) starts containers', async () => {
  await ok(['network', 'create', '--ipv6', '--subnet', `fd7e:${tag}:7::/64`, 'off6']);
  await ok(['run', '-d', '--name', 'on6', '--network', 'off6', 'busybox', ...SLEEP]);
  await ok(['run', '-d', '--name', 'no6', '--network', 'off6', '--sysctl', 'net.ipv6.conf.all.disable_ipv6=1', 'busybox', ...SLEEP]);
  assert.equal(await inspect('no6', '[{{.NetworkSettings.Networks.off6.GlobalIPv6Address}}] {{.NetworkSettings.Networks.off6.GlobalIPv6PrefixLen}}'), '[] 0');
  assert.match(await inspect('on6', '{{.NetworkSettings.Networks.off6.GlobalIPv6Address}}'), new RegExp(`^fd7e:${tag}:7::`));
  const ping = await docker(d, ['exec', 'on6', 'ping', '-6', '-c1', '-W3', 'no6']);
  assert.notEqual(ping.code, 0);
  assert.match(ping.stdout + ping.stderr, /bad address 'no6'/);
  // the endpoint's own sysctl (API 1.46 driver-opt), as the upstream test's second case
  const r = await api('POST', '/v1.46/containers/create?name=ep6', {
    Image: 'busybox', Cmd: SLEEP, HostConfig: { NetworkMode: 'off6' },
    NetworkingConfig: { EndpointsConfig: { off6: { DriverOpts: { 'com.docker.network.endpoint.sysctls': 'net.ipv6.conf.IFNAME.disable_ipv6=1' } } } },
  });
  assert.equal(r.status, 201, r.body);
  await ok(['start', 'ep6']);
  assert.equal(await inspect('ep6', '[{{.NetworkSettings.Networks.off6.GlobalIPv6Address}}]'), '[]');
  await ok(['rm', '-f', 'on6', 'no6', 'ep6']);
  await ok(['network', 'rm', 'off6']);
  // the gateway fe80::1/64 and the bridge's own link-local address share the prefix (moby's TestBridgeICC)
  await ok(['network', 'create', '--ipv6', '--subnet', 'fe80::/64', '--gateway', 'fe80::1', 'll6']);
  try {
    assert.match(await ok(['run', '--rm', '--network', 'll6', 'busybox', 'ip', '-6', 'addr', 'show', 'eth0']), /inet6 fe80::2\/64/);
  } finally {
    await ok(['network', 'rm', 'll6']);
  }
});

test('gateway modes are per family (docker 28): gateway_mode_ipv4=nat-unprotected opens a network\'s IPv4 addresses to other networks, not its IPv6 ones, gateway_mode_ipv6 the other way round; both shown in inspect, routed refused', async () => {
  const mode4 = 'com.docker.network.bridge.gateway_mode_ipv4';
  const mode6 = 'com.docker.network.bridge.gateway_mode_ipv6';
  await ok(['network', 'create', '--ipv6', '--subnet', `fd7e:${tag}:8::/64`, '-o', `${mode4}=nat-unprotected`, 'open4']);
  await ok(['network', 'create', '--ipv6', '--subnet', `fd7e:${tag}:9::/64`, '-o', `${mode4}=nat`, '-o', `${mode6}=nat-unprotected`, 'open6']);
  // nat spelt out, as a compose file may (the default)
  await ok(['network', 'create', '--ipv6', '--subnet', `fd7e:${tag}:a::/64`, '-o', `${mode6}=nat`, 'client6']);
  try {
    assert.equal((await ok(['network', 'inspect', '-f', '{{json .Options}}', 'open6'])).trim(), JSON.stringify({ [mode4]: 'nat', [mode6]: 'nat-unprotected' }));
    assert.equal((await ok(['network', 'inspect', '-f', '{{json .Options}}', 'client6'])).trim(), JSON.stringify({ [mode6]: 'nat' }));
    await ok(['run', '-d', '--name', 'gm-open4', '--network', 'open4', 'busybox', ...SLEEP]);
    await ok(['run', '-d', '--name', 'gm-open6', '--network', 'open6', 'busybox', ...SLEEP]);
    await ok(['run', '-d', '--name', 'gm-client', '--network', 'client6', 'busybox', ...SLEEP]);
    const ping = async (to: string, net: string, family: 4 | 6) => {
      const ip = await inspect(to, `{{.NetworkSettings.Networks.${net}.${family === 4 ? 'IPAddress' : 'GlobalIPv6Address'}}}`);
      return (await docker(d, ['exec', 'gm-client', 'ping', `-${family}`, '-c1', '-W2', ip])).code;
    };
    assert.equal(await ping('gm-open4', 'open4', 4), 0, 'IPv4 into gateway_mode_ipv4=nat-unprotected');
    assert.notEqual(await ping('gm-open4', 'open4', 6), 0, 'IPv6 into it: its IPv6 side is still nat');
    assert.notEqual(await ping('gm-open6', 'open6', 4), 0, 'IPv4 into gateway_mode_ipv6=nat-unprotected: still nat');
    assert.equal(await ping('gm-open6', 'open6', 6), 0, 'IPv6 into it');
    const id4 = (await ok(['network', 'inspect', '-f', '{{.Id}}', 'open4'])).trim().slice(0, 12);
    assert.ok(ip6tables().includes(`-A TSULA-ISO-br-${id4} ! -i br-${id4} -o br-${id4} -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP`), 'the IPv6 isolation rule stays');
    const routed = await docker(d, ['network', 'create', '--ipv6', '-o', `${mode6}=routed`, 'routed6']);
    assert.notEqual(routed.code, 0);
    assert.match(routed.stderr, /network routed6: gateway mode "routed" is not supported by tsulad \(com\.docker\.network\.bridge\.gateway_mode_ipv6: nat or nat-unprotected\)/);
  } finally {
    await docker(d, ['rm', '-f', 'gm-open4', 'gm-open6', 'gm-client']);
    await docker(d, ['network', 'rm', 'open4', 'open6', 'client6']);
  }
});

test('a fresh IPv6 address is the lowest free one, as an IPv4 one (dockerd\'s IPAM, moby\'s TestEtcHostsDisconnect; host-local alone moves on): after disconnect + connect, for a new container, for starts at once', async () => {
  const [v4] = freeSubnet([tn.subnet]);
  const sub6 = `fd7e:${tag}:b::/64`;
  await ok(['network', 'create', '--ipv6', '--subnet', v4, '--subnet', sub6, 'low6']);
  const [p4, p6] = [v4.replace(/0\/24$/, ''), sub6.replace('::/64', '::')];
  const addrs = (n: string) => inspect(n, '{{.NetworkSettings.Networks.low6.IPAddress}} {{.NetworkSettings.Networks.low6.GlobalIPv6Address}}');
  const names = ['low-a', 'low-b', 'low-c', 'low-1', 'low-2', 'low-3', 'low-4'];
  try {
    await ok(['run', '-d', '--name', 'low-a', '--network', 'low6', 'busybox', ...SLEEP]);
    assert.equal(await addrs('low-a'), `${p4}2 ${p6}2`);
    await ok(['network', 'disconnect', 'low6', 'low-a']);
    await ok(['network', 'connect', 'low6', 'low-a']);
    assert.equal(await addrs('low-a'), `${p4}2 ${p6}2`, 'disconnect + connect: ::2 again, not host-local\'s ::3');
    await ok(['run', '-d', '--name', 'low-b', '--network', 'low6', 'busybox', ...SLEEP]);
    assert.equal(await addrs('low-b'), `${p4}3 ${p6}3`);
    await ok(['rm', '-f', 'low-a']);
    await ok(['run', '-d', '--name', 'low-c', '--network', 'low6', 'busybox', ...SLEEP]);
    assert.equal(await addrs('low-c'), `${p4}2 ${p6}2`, 'a new container: the lowest free of each family');
    // starts under way skip each other's picks: four at once get the next four, no start failing
    await Promise.all(['low-1', 'low-2', 'low-3', 'low-4'].map((n) => ok(['run', '-d', '--name', n, '--network', 'low6', 'busybox', ...SLEEP])));
    const got = await Promise.all(['low-1', 'low-2', 'low-3', 'low-4'].map(addrs));
    assert.deepEqual(got.map((a) => a.split(' ')[1]).sort(), [4, 5, 6, 7].map((i) => `${p6}${i}`), got.join(', '));
    assert.deepEqual(got.map((a) => a.split(' ')[0]).sort(), [4, 5, 6, 7].map((i) => `${p4}${i}`), got.join(', '));
  } finally {
    await docker(d, ['rm', '-f', ...names]);
    await docker(d, ['network', 'rm', 'low6']);
  }
});
