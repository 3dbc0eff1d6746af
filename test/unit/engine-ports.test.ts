// Published ports' host side: dockerd's PortAllocator sequence (the first free port after the
// last one given, per protocol, address and range, wrapping, skipping reserved ports and the
// ports of other containers), binds that fail moving on to the next port, dockerd 29's error
// words, and every socket closed when a start's ports can't all be had; then the real binds
// (hostports.ts): a held TCP or UDP port can't be bound by anyone else until it is released.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { PortAllocator, clash, type BindHost, type HostSocket, type PortRanges } from '../../src/engine/networks/ports.js';
import { bindHostPort } from '../../src/engine/networks/hostports.js';
import type { NetworkingSpec } from '../../src/engine/containers/model.js';

const ranges = (lo: number, hi: number, reserved: number[] = []): PortRanges => ({
  ephemeral: async () => [lo, hi],
  reserved: async () => new Set(reserved),
});

function spec(portBindings: NetworkingSpec['portBindings'], more: Partial<NetworkingSpec> = {}): NetworkingSpec {
  return { portBindings, exposedPorts: [], publishAll: false, ...more } as unknown as NetworkingSpec;
}

/** A fake bind: refuses `busy` ("proto/ip/port") with EADDRINUSE; records what it bound and closed. */
function fakeBind(busy: string[] = []) {
  const open = new Set<string>();
  const tried: string[] = [];
  const bind: BindHost = async (proto, ip, port) => {
    const k = `${proto}/${ip}/${port}`;
    tried.push(k);
    if (busy.includes(k)) throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${ip}:${port}`), { code: 'EADDRINUSE' });
    open.add(k);
    const s: HostSocket = { close: () => { open.delete(k); } };
    return s;
  };
  return { bind, open, tried };
}

test('any port: 32768, 32769, … per protocol, from the first of the ephemeral range, as dockerd', async () => {
  const a = new PortAllocator(ranges(32768, 60999));
  const f = fakeBind();
  const one = await a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '' }] }), new Set(), f.bind);
  const two = await a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '' }] }), new Set(), f.bind);
  const udp = await a.resolve(spec({ '53/udp': [{ hostIp: '', hostPort: '' }] }), new Set(), f.bind);
  assert.deepEqual(one.bindings, { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '32768' }] });
  assert.deepEqual(two.bindings, { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '32769' }] });
  assert.deepEqual(udp.bindings, { '53/udp': [{ hostIp: '0.0.0.0', hostPort: '32768' }] });
  assert.deepEqual(one.mappings, [{ hostPort: 32768, containerPort: 80, protocol: 'tcp' }]);
  assert.equal(one.sockets.length, 1);
  assert.deepEqual([...f.open].sort(), ['tcp/0.0.0.0/32768', 'tcp/0.0.0.0/32769', 'udp/0.0.0.0/32768']);
});

test('-P: exposed ports in dockerd\'s order (by port number), each the next port; reserved and taken ports skipped; the range wraps', async () => {
  const a = new PortAllocator(ranges(40000, 40005, [40001]));
  const f = fakeBind();
  // another container has 40002 on 127.0.0.1: 0.0.0.0 can't have it
  const r = await a.resolve(spec({}, { publishAll: true, exposedPorts: ['9000/tcp', '80/tcp'] }), new Set(['tcp/127.0.0.1/40002']), f.bind);
  assert.deepEqual(r.bindings, { '9000/tcp': [{ hostIp: '0.0.0.0', hostPort: '40003' }], '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '40000' }] });
  const next = await a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '' }, { hostIp: '', hostPort: '' }, { hostIp: '', hostPort: '' }] }), new Set(), f.bind);
  assert.deepEqual(next.bindings['80/tcp']!.map((b) => b.hostPort), ['40004', '40005', '40000']);
});

test('a port a host program holds: a range moves on to the next one; a fixed port fails in dockerd 29\'s words', async () => {
  const a = new PortAllocator(ranges(32768, 60999));
  const f = fakeBind(['tcp/0.0.0.0/32768', 'tcp/0.0.0.0/32769', 'tcp/0.0.0.0/18300']);
  const r = await a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '' }] }), new Set(), f.bind);
  assert.equal(r.bindings['80/tcp']![0]!.hostPort, '32770');
  await assert.rejects(a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '18300' }] }), new Set(), f.bind),
    { message: 'failed to bind host port 0.0.0.0:18300/tcp: address already in use' });
  // every port of a range held: the last bind's error
  const g = fakeBind(['udp/127.0.0.1/8000', 'udp/127.0.0.1/8001']);
  await assert.rejects(a.resolve(spec({ '53/udp': [{ hostIp: '127.0.0.1', hostPort: '8000-8001' }] }), new Set(), g.bind),
    { message: /^failed to bind host port 127\.0\.0\.1:800[01]\/udp: address already in use$/ });
});

test('a port another container holds: dockerd\'s "port is already allocated", naming the holder\'s address; a full range: "all ports are allocated"', async () => {
  const a = new PortAllocator(ranges(32768, 60999));
  const f = fakeBind();
  const taken = new Set(['tcp/0.0.0.0/18080', 'tcp/127.0.0.1/18081']);
  await assert.rejects(a.resolve(spec({ '80/tcp': [{ hostIp: '127.0.0.1', hostPort: '18080' }] }), taken, f.bind),
    { message: 'Bind for 0.0.0.0:18080 failed: port is already allocated' });
  await assert.rejects(a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '18081' }] }), taken, f.bind),
    { message: 'Bind for 127.0.0.1:18081 failed: port is already allocated' });
  await assert.rejects(a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '18080-18081' }] }), taken, f.bind), { message: 'all ports are allocated' });
  // the same port on udp, or on another address than a specific one, is free
  assert.equal(clash(taken, 'udp', '0.0.0.0', 18080), null);
  assert.equal(clash(new Set(['tcp/127.0.0.1/1']), 'tcp', '10.0.0.1', 1), null);
});

test('a start whose later binding fails closes the sockets its earlier ones bound', async () => {
  const a = new PortAllocator(ranges(32768, 60999));
  const f = fakeBind(['tcp/0.0.0.0/18300']);
  await assert.rejects(a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '18299' }], '81/tcp': [{ hostIp: '', hostPort: '18300' }] }), new Set(), f.bind));
  assert.deepEqual(f.tried, ['tcp/0.0.0.0/18299', 'tcp/0.0.0.0/18300']);
  assert.equal(f.open.size, 0);
});

async function canListen(port: number, host = '0.0.0.0'): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ port, host }, () => s.close(() => resolve(true)));
  });
}

async function canBindUdp(port: number, host = '0.0.0.0', reuseAddr = false): Promise<boolean> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr });
  return new Promise((resolve) => {
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

test('the real binds: a held TCP port refuses other listeners (on a more specific address too) and resets connections; UDP refuses binds; released, both are free', async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '0.0.0.0', () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const tcp = (await bindHostPort('tcp', '0.0.0.0', port))!;
  const udp = (await bindHostPort('udp', '0.0.0.0', port))!;
  try {
    assert.equal(await canListen(port), false);
    assert.equal(await canListen(port, '127.0.0.1'), false);
    assert.equal(await canBindUdp(port), false);
    assert.equal(await canBindUdp(port, '127.0.0.1', true), false);
    // nothing served: a connection that reaches the socket is reset
    const err = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('data', () => resolve('data'));
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      c.on('close', () => resolve('closed'));
    });
    assert.match(err, /ECONNRESET|closed/);
    // a second hold of a held port: EADDRINUSE, which the allocator turns into dockerd's words
    await assert.rejects(bindHostPort('tcp', '0.0.0.0', port), { code: 'EADDRINUSE' });
    await assert.rejects(bindHostPort('udp', '127.0.0.1', port), { code: 'EADDRINUSE' });
  } finally {
    tcp.close();
    udp.close();
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await canListen(port), true);
  assert.equal(await canBindUdp(port), true);
  assert.equal(await bindHostPort('sctp', '0.0.0.0', port), null);
});

test('exact host ports are taken before any port: -p 80 -p 32768:8080 gives 80 the next one, not 32768 (moby\'s TestRunAllocatePortInReservedRange)', async () => {
  const a = new PortAllocator(ranges(32768, 60999));
  const f = fakeBind();
  const r = await a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '' }], '8080/tcp': [{ hostIp: '', hostPort: '32768' }] }), new Set(), f.bind);
  assert.deepEqual(r.bindings, { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '32769' }], '8080/tcp': [{ hostIp: '0.0.0.0', hostPort: '32768' }] });
});

test('a network with IPv6: an empty host IP is 0.0.0.0 and :: on one port (dockerd 28\'s pair, as moby\'s TestDisableNAT), portmap gets both families; an explicit IPv4 one stays IPv4 only; :: and IPv6 addresses clash within their family', async () => {
  const a = new PortAllocator(ranges(32768, 60999));
  const f = fakeBind(['tcp/::/32768']); // a host program has [::]:32768: the pair moves on together
  const r = await a.resolve(spec({
    '80/tcp': [{ hostIp: '', hostPort: '8080' }], '81/tcp': [{ hostIp: '', hostPort: '' }],
    '82/tcp': [{ hostIp: '0.0.0.0', hostPort: '8082' }], '83/tcp': [{ hostIp: '::', hostPort: '8083' }],
  }), new Set(['tcp/127.0.0.1/8083']), f.bind, '0.0.0.0', true);
  assert.deepEqual(r.bindings, {
    '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '8080' }, { hostIp: '::', hostPort: '8080' }],
    '81/tcp': [{ hostIp: '0.0.0.0', hostPort: '32769' }, { hostIp: '::', hostPort: '32769' }],
    '82/tcp': [{ hostIp: '0.0.0.0', hostPort: '8082' }],
    '83/tcp': [{ hostIp: '::', hostPort: '8083' }],
  });
  assert.deepEqual(r.mappings, [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 32769, containerPort: 81, protocol: 'tcp' },
    { hostPort: 8082, containerPort: 82, protocol: 'tcp', hostIP: '0.0.0.0' },
    { hostPort: 8083, containerPort: 83, protocol: 'tcp', hostIP: '::' },
  ]);
  assert.ok(!f.open.has('tcp/0.0.0.0/32768'), 'the IPv4 half of a failed pair is closed');
  // an IPv4-only network: an IPv6 host address has nothing to go to without a proxy (no binding)
  const v4 = await a.resolve(spec({ '80/tcp': [{ hostIp: '::1', hostPort: '9090' }, { hostIp: '', hostPort: '9091' }] }), new Set(), f.bind);
  assert.deepEqual(v4.bindings, { '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '9091' }] });
  assert.equal(clash(new Set(['tcp/::/80']), 'tcp', '0.0.0.0', 80), null);
  assert.equal(clash(new Set(['tcp/::/80']), 'tcp', 'fd00::1', 80), '::');
  assert.equal(clash(new Set(['tcp/fd00::1/80']), 'tcp', '::', 80), 'fd00::1');
  assert.equal(clash(new Set(['tcp/0.0.0.0/80']), 'tcp', '::', 80), null);
  await assert.rejects(a.resolve(spec({ '80/tcp': [{ hostIp: '', hostPort: '8080' }] }), new Set(['tcp/::/8080']), f.bind, '0.0.0.0', true),
    /Bind for :::8080 failed: port is already allocated/);
});

test('the real binds of a pair: 0.0.0.0 and [::] of one port held side by side (IPv6-only socket)', async (t) => {
  const probe = net.createServer();
  const v6 = await new Promise<boolean>((res) => { probe.once('error', () => res(false)); probe.listen({ host: '::1', port: 0 }, () => { probe.close(); res(true); }); });
  if (!v6) { t.skip('no IPv6 on this host'); return; }
  // a port no other process of the loaded machine has (in the ephemeral range, one may): tried again elsewhere
  for (let attempt = 0; ; attempt++) {
    const port = 47000 + Math.floor(Math.random() * 1000);
    const held: Array<{ close(): void } | null> = [];
    try {
      held.push(await bindHostPort('tcp', '0.0.0.0', port), await bindHostPort('tcp', '::', port));
      held.push(await bindHostPort('udp', '0.0.0.0', port), await bindHostPort('udp', '::', port));
    } catch (e) {
      for (const s of held) s?.close();
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue;
      throw e;
    }
    await assert.rejects(bindHostPort('tcp', '::', port), /EADDRINUSE/);
    for (const s of held) s?.close();
    break;
  }
});
