// A network's auxiliary addresses and IPAM options as dockerd's default IPAM keeps them
// (engine/networks/aux.ts, service.ts, model.ts): dockerd's checks and words at create, the
// addresses held as leases in host-local's store, inspect's IPAM shape, the subnet accounting,
// and the CLI's match of each --aux-address to its subnet (docker's consolidateIpam).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorMessage, httpStatus } from '../../src/common/errors.js';
import { Logger } from '../../src/common/log.js';
import { EventBus } from '../../src/engine/events.js';
import { subnetStatus } from '../../src/engine/api/network-views.js';
import { lowestFreeIp, lowestFreeIp6, reserveAux } from '../../src/engine/networks/aux.js';
import { networkView, type NetworkRecord } from '../../src/engine/networks/model.js';
import { NetworkService } from '../../src/engine/networks/service.js';
import { NetworkStore } from '../../src/engine/networks/store.js';
import { auxBySubnet } from '../../src/cli/commands/network.js';

async function withService(fn: (s: NetworkService, dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-netaux-'));
  try {
    // no default bridge: nothing here touches the host
    const s = new NetworkService({
      store: new NetworkStore(path.join(dir, 'records')), ipamDir: path.join(dir, 'ipam'), pools: [{ base: '10.251.0.0/16', size: 24 }],
      log: new Logger('error'), events: new EventBus(), bridge: null,
    });
    await s.init();
    await fn(s, dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const body = (name: string, config: Record<string, unknown>, options?: Record<string, string> | null) => ({
  Name: name, Driver: 'bridge', IPAM: { Driver: 'default', ...(options === undefined ? {} : { Options: options }), Config: [config] },
});

async function refused(p: Promise<unknown>): Promise<{ status: number; msg: string }> {
  try { await p; } catch (e) { return { status: httpStatus(e), msg: errorMessage(e) }; }
  assert.fail('the create went through');
}

test('--aux-address and --ipam-opt: kept, shown in inspect as dockerd does, the addresses held in host-local\'s store', async () => {
  await withService(async (s, dir) => {
    const { Id } = await s.create(body('aux', { Subnet: '10.250.7.0/28', AuxiliaryAddresses: { router: '10.250.7.5', b: '10.250.7.14' } }, { k: 'v' }));
    const v = s.view(s.get(Id));
    assert.deepEqual(v.IPAM, { Driver: 'default', Options: { k: 'v' }, Config: [{ Subnet: '10.250.7.0/28', Gateway: '10.250.7.1', AuxiliaryAddresses: { router: '10.250.7.5', b: '10.250.7.14' } }] });
    // the lease files a DEL never takes (host-local's are "<container id>\r\n<ifname>")
    const leases = (await fs.readdir(path.join(dir, 'ipam', 'aux'))).sort();
    assert.deepEqual(leases, ['10.250.7.14', '10.250.7.5']);
    assert.equal(await fs.readFile(path.join(dir, 'ipam', 'aux', '10.250.7.5'), 'utf8'), 'tsulad-aux-address\r\naux');
    // IPsInUse: network, broadcast, gateway and the two; the range loses them too
    assert.deepEqual(subnetStatus(s.get(Id), []), { '10.250.7.0/28': { IPsInUse: 5, DynamicIPsAvailable: 11 } });
  });
});

test('dockerd\'s field order in IPAM.Config (Subnet, IPRange, Gateway, AuxiliaryAddresses), empty ones left out', async () => {
  await withService(async (s) => {
    const { Id } = await s.create(body('ranged', { Subnet: '10.250.8.0/24', IPRange: '10.250.8.128/25', AuxiliaryAddresses: {} }, {}));
    const cfg = s.view(s.get(Id)).IPAM.Config[0]!;
    assert.deepEqual(Object.keys(cfg), ['Subnet', 'IPRange', 'Gateway']);
    assert.deepEqual(s.view(s.get(Id)).IPAM.Options, {});
  });
});

test('IPAM.Options as the create gave it: null without any, {} as {}; the pre-defined networks\' null; older records\' {} stays', async () => {
  await withService(async (s) => {
    const none = await s.create({ Name: 'none-given' });
    assert.equal(s.view(s.get(none.Id)).IPAM.Options, null);
    const nullOpts = await s.create(body('null-opts', { Subnet: '10.250.9.0/24' }, null));
    assert.equal(s.view(s.get(nullOpts.Id)).IPAM.Options, null);
    assert.equal(s.view(s.get('host')).IPAM.Options, null);
    const old = { ...s.get(nullOpts.Id), ipam: { driver: 'default', options: {}, config: [] } } as NetworkRecord;
    assert.deepEqual(networkView(old).IPAM.Options, {});
  });
});

test('an aux address outside its subnet, unparsable or IPv6: dockerd\'s ValidateIPAM, 400, every one listed', async () => {
  await withService(async (s, dir) => {
    const r = await refused(s.create(body('out', { Subnet: '10.250.10.0/28', AuxiliaryAddresses: { z: '10.250.10.99', a: 'nope', m: 'fd00::1' } })));
    assert.equal(r.status, 400);
    assert.equal(r.msg, [
      'invalid network config:',
      '* invalid auxiliary address a: invalid address',
      '* invalid auxiliary address m: parent subnet is an IPv4 block',
      '* invalid auxiliary address z: parent subnet 10.250.10.0/28 doesn\'t contain this address',
    ].join('\n'));
    // without a subnet the config does not parse, as dockerd says
    const r2 = await refused(s.create(body('nosub', { AuxiliaryAddresses: { a: '10.250.10.5' } })));
    assert.deepEqual(r2, { status: 400, msg: 'invalid network config:\n* invalid subnet : invalid CIDR block notation' });
    assert.throws(() => s.get('out'), /not found/);
    await assert.rejects(fs.readdir(path.join(dir, 'ipam', 'out')), /ENOENT/);
  });
});

test('an aux address the pool has taken (network, broadcast, gateway, another name\'s): libnetwork\'s "Address already in use", 500', async () => {
  await withService(async (s) => {
    for (const [aux, gw, want] of [
      [{ gw: '10.250.11.1' }, undefined, '(gw:10.250.11.1)'],
      [{ x: '10.250.11.9' }, '10.250.11.9', '(x:10.250.11.9)'],
      [{ net: '10.250.11.0' }, undefined, '(net:10.250.11.0)'],
      [{ bc: '10.250.11.15' }, undefined, '(bc:10.250.11.15)'],
      [{ a: '10.250.11.4', b: '10.250.11.4' }, undefined, '(b:10.250.11.4)'],
    ] as const) {
      const r = await refused(s.create(body('taken', { Subnet: '10.250.11.0/28', ...(gw ? { Gateway: gw } : {}), AuxiliaryAddresses: aux })));
      assert.deepEqual(r, { status: 500, msg: `failed to allocate secondary ip address ${want}: Address already in use` });
    }
  });
});

test('reserveAux: made again when the lease dir is gone, a lease there already left as it is', async () => {
  await withService(async (s, dir) => {
    const { Id } = await s.create(body('again', { Subnet: '10.250.12.0/24', AuxiliaryAddresses: { a: '10.250.12.7' } }));
    const lease = path.join(dir, 'ipam', 'again', '10.250.12.7');
    await fs.rm(path.join(dir, 'ipam', 'again'), { recursive: true });
    await reserveAux(path.join(dir, 'ipam'), s.get(Id));
    assert.equal(await fs.readFile(lease, 'utf8'), 'tsulad-aux-address\r\nagain');
    await fs.writeFile(lease, 'someone');
    await reserveAux(path.join(dir, 'ipam'), s.get(Id));
    assert.equal(await fs.readFile(lease, 'utf8'), 'someone');
  });
});

test('tsula network create: each --aux-address goes with the subnet that holds it, else docker\'s "no matching subnet"', () => {
  assert.deepEqual(auxBySubnet(['10.1.0.0/24', '10.2.0.0/16'], { a: '10.2.3.4', b: '10.1.0.9' }), [{ b: '10.1.0.9' }, { a: '10.2.3.4' }]);
  assert.deepEqual(auxBySubnet(['10.1.0.0/24'], {}), [{}]);
  assert.throws(() => auxBySubnet(['10.1.0.0/24'], { a: '10.3.0.1' }), /^Error: no matching subnet for aux-address 10\.3\.0\.1$/);
  assert.throws(() => auxBySubnet([], { a: '10.3.0.1' }), /no matching subnet for aux-address 10\.3\.0\.1/);
});

test('a fresh address is the lowest free one of each family (dockerd\'s IPAM), past host-local\'s leases, the gateway and the picks under way', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-lowest-'));
  try {
    const n: NetworkRecord = {
      id: 'f'.repeat(64), name: 'low', driver: 'bridge', created: '', internal: false, attachable: false, labels: {}, options: {},
      ipam: { driver: 'default', options: null, config: [{ subnet: '10.250.9.0/24', gateway: '10.250.9.1' }] },
      bridge: 'br-low', ipMasq: true, predefined: false, autoSubnet: false, ipv6: { subnet: 'fd00:9::/64', gateway: 'fd00:9::1' },
    };
    assert.equal(await lowestFreeIp6(dir, n), 'fd00:9::2', 'no lease dir yet');
    const leases = path.join(dir, 'low');
    await fs.mkdir(leases);
    // host-local's files: one per address (as Go prints it), its last pick per range set
    for (const f of ['10.250.9.2', 'fd00:9::2', 'fd00:9::4', 'last_reserved_ip.0', 'last_reserved_ip.1']) await fs.writeFile(path.join(leases, f), f.startsWith('last') ? 'fd00:9::4' : 'c\r\neth0');
    assert.equal(await lowestFreeIp6(dir, n), 'fd00:9::3', '::3 free under host-local\'s last ::4');
    // one set of picks per network, both families in it
    const pending = new Set(['10.250.9.3', 'fd00:9::3']);
    assert.equal(await lowestFreeIp6(dir, n, pending), 'fd00:9::5');
    assert.equal(await lowestFreeIp(dir, n, pending), '10.250.9.4');
    // an IPRange: its first address, the gateway skipped
    assert.equal(await lowestFreeIp6(dir, { ...n, ipv6: { subnet: 'fd00:9::/64', ipRange: 'fd00:9::/126', gateway: 'fd00:9::1' } }, pending), undefined, '::1 gateway, ::2 and ::3 taken: the /126 is full');
    assert.equal(await lowestFreeIp6(dir, { ...n, ipv6: { subnet: 'fd00:9::/64', ipRange: 'fd00:9::100/120', gateway: 'fd00:9::1' } }), 'fd00:9::100');
    assert.equal(await lowestFreeIp6(dir, { ...n, ipv6: undefined }), undefined, 'a network without IPv6');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
