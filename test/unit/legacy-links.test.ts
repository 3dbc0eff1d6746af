// Legacy links' pure parts: moby's links.ToEnv variables (order included), the parent's
// /etc/hosts lines, the start's checks in dockerd's words, resolution at create.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostLinksView, linkEnv, linkHostsLines, resolveLegacyLinks, startLinks } from '../../src/engine/networks/legacy-links.js';
import { notFound } from '../../src/common/errors.js';
import type { Container } from '../../src/engine/containers/model.js';

const BRIDGE = 'b'.repeat(64);

function ctr(id: string, name: string, o: { ip?: string; lastIp?: string; status?: string; network?: string; nets?: string[]; links?: Array<{ child: string; alias: string }>; env?: string[]; exposed?: string[]; container?: string } = {}): Container {
  return {
    id, name,
    config: {
      hostname: id.slice(0, 12), env: o.env ?? [], network: o.network ?? 'cni',
      networking: {
        endpoints: (o.nets ?? [BRIDGE]).map((networkId) => ({ networkId, name: 'bridge', aliases: [] })),
        exposedPorts: o.exposed ?? [], legacyLinks: o.links, container: o.container,
      },
    },
    state: {
      status: o.status ?? 'running',
      ...(o.ip ? { network: { sandboxKey: '', ports: {}, endpoints: [{ networkId: BRIDGE, ip: o.ip }] } } : {}),
      ...(o.lastIp ? { lastIps: { [BRIDGE]: o.lastIp } } : {}),
    },
  } as unknown as Container;
}

test('linkEnv: ToEnv\'s order: the first port, each port\'s four, a run\'s range after its last port, TCP first, NAME, the child\'s env but HOME and PATH', () => {
  const env = linkEnv('/app/my-db', '10.0.0.2', ['FOO=bar', 'PATH=/x', 'HOME=/root', 'EMPTY=', 'NOVALUE'], ['7001/udp', '6379/tcp', '80/tcp', '7000/udp', '81/tcp', '7002/udp']);
  const port = (n: number, p: string) => [`MY_DB_PORT_${n}_${p.toUpperCase()}=${p}://10.0.0.2:${n}`, `MY_DB_PORT_${n}_${p.toUpperCase()}_ADDR=10.0.0.2`, `MY_DB_PORT_${n}_${p.toUpperCase()}_PORT=${n}`, `MY_DB_PORT_${n}_${p.toUpperCase()}_PROTO=${p}`];
  assert.deepEqual(env, [
    'MY_DB_PORT=tcp://10.0.0.2:80',
    ...port(80, 'tcp'), ...port(81, 'tcp'), ...port(6379, 'tcp'),
    'MY_DB_PORT_80_TCP_START=tcp://10.0.0.2:80', 'MY_DB_PORT_80_TCP_PORT_START=80', 'MY_DB_PORT_80_TCP_END=tcp://10.0.0.2:81', 'MY_DB_PORT_80_TCP_PORT_END=81',
    ...port(7000, 'udp'), ...port(7001, 'udp'), ...port(7002, 'udp'),
    'MY_DB_PORT_7000_UDP_START=udp://10.0.0.2:7000', 'MY_DB_PORT_7000_UDP_PORT_START=7000', 'MY_DB_PORT_7000_UDP_END=udp://10.0.0.2:7002', 'MY_DB_PORT_7000_UDP_PORT_END=7002',
    'MY_DB_NAME=/app/my-db',
    'MY_DB_ENV_FOO=bar', 'MY_DB_ENV_EMPTY=',
  ]);
  assert.deepEqual(linkEnv('/a/x', '1.2.3.4', [], []), ['X_NAME=/a/x'], 'no ports: no X_PORT');
});

test('hosts lines: alias, the child\'s hostname, its name unless it is the alias; a stopped child\'s last address stays', () => {
  const db = ctr('d'.repeat(64), 'db', { ip: '10.0.0.2' });
  const cache = ctr('c'.repeat(64), 'cache', { status: 'exited', lastIp: '10.0.0.3' });
  const app = ctr('a'.repeat(64), 'app', { links: [{ child: db.id, alias: 'db' }, { child: cache.id, alias: 'kv' }, { child: 'e'.repeat(64), alias: 'gone' }] });
  const byId = (id: string) => [db, cache, app].find((c) => c.id === id);
  assert.deepEqual(linkHostsLines(app, byId, BRIDGE), [`10.0.0.2\tdb ${'d'.repeat(12)}`, `10.0.0.3\tkv ${'c'.repeat(12)} cache`]);
  assert.deepEqual(hostLinksView(app, byId), ['/db:/app/db', '/cache:/app/kv'], 'a removed child is forgotten');
  assert.throws(() => startLinks(app, byId, BRIDGE), { message: 'Cannot link to a non running container: /cache AS /app/kv' });
  const user = ctr('f'.repeat(64), 'u1', { nets: ['n'.repeat(64)] });
  const app2 = ctr('9'.repeat(64), 'app2', { links: [{ child: db.id, alias: 'db' }, { child: user.id, alias: 'u' }] });
  assert.throws(() => startLinks(app2, (id) => [db, user].find((c) => c.id === id), BRIDGE), { message: 'Cannot link to /u1, as it does not belong to the default network' });
  assert.deepEqual(startLinks(ctr('8'.repeat(64), 'p', { links: [{ child: db.id, alias: 'db' }] }), byId, BRIDGE), ['DB_NAME=/p/db']);
});

test('resolve at create: a missing child is a 400 naming it, a shared network is followed, a host one refused, a taken link name skipped', () => {
  const db = ctr('d'.repeat(64), 'db');
  const side = ctr('s'.repeat(64), 'side', { network: 'container', container: 'db' });
  const host = ctr('h'.repeat(64), 'h', { network: 'host' });
  const all = [db, side, host];
  const taken = new Set(['web/taken']);
  const warned: string[] = [];
  const r = {
    get: (ref: string) => { const c = all.find((x) => x.name === ref || x.id === ref); if (!c) throw notFound(`No such container: ${ref}`); return c; },
    reserve: (name: string) => !taken.has(name),
    warn: (msg: string) => { warned.push(msg); },
  };
  const web = ctr('w'.repeat(64), 'web');
  assert.deepEqual(resolveLegacyLinks(web, ['db', 'side:s', 'db:taken'], r), [{ child: db.id, alias: 'db' }, { child: db.id, alias: 's' }]);
  assert.equal(warned.length, 1);
  assert.throws(() => resolveLegacyLinks(web, ['nope:x'], r), (e: Error & { kind?: string }) => e.kind === 'InvalidArgument' && e.message === 'could not get container for nope: No such container: nope');
  assert.throws(() => resolveLegacyLinks(web, ['h:x'], r), /host type networking can't be used with links/);
});
