// Many clients at once against one tsulad: concurrent creates get distinct docker-shaped
// names and no error, concurrent `run --rm`s all run and leave nothing behind, and
// concurrent creates of one explicit name let exactly one through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import { TestDaemon } from '../helpers/daemon.js';

const N = 100;
const DOCKER_NAME = /^\/[a-z]+_[a-z]+\d?$/;

let d: TestDaemon;
// one keep-alive pool for all the concurrent requests: no fd per request left in TIME_WAIT
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  agent.destroy();
  await d?.destroy();
});

function api(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: d.sock, agent, method, path: '/v1.41' + urlPath, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test(`${N} concurrent creates without a name: ${N} distinct docker-shaped names, no error`, async () => {
  const created = await Promise.all(Array.from({ length: N }, () => api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })));
  const failed = created.filter((r) => r.status !== 201);
  assert.deepEqual(failed, [], 'every create succeeds');
  const ids = created.map((r) => (JSON.parse(r.body) as { Id: string }).Id);
  const names = await Promise.all(ids.map(async (id) => {
    const r = await api('GET', `/containers/${id}/json`);
    assert.equal(r.status, 200);
    return (JSON.parse(r.body) as { Name: string }).Name;
  }));
  assert.equal(new Set(names).size, N, 'names are distinct');
  for (const n of names) assert.match(n, DOCKER_NAME);
  const removed = await Promise.all(ids.map((id) => api('DELETE', `/containers/${id}`)));
  assert.deepEqual(removed.filter((r) => r.status !== 204), []);
});

test(`${N} concurrent run --rm (create, wait removed, start): all exit 0 and leave nothing behind`, async (t) => {
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: N }, async () => {
    const c = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { AutoRemove: true } });
    if (c.status !== 201) return `create: ${c.status} ${c.body}`;
    const id = (JSON.parse(c.body) as { Id: string }).Id;
    const removed = api('POST', `/containers/${id}/wait?condition=removed`);
    const s = await api('POST', `/containers/${id}/start`);
    if (s.status !== 204) return `start: ${s.status} ${s.body}`;
    const w = await removed;
    if (w.status !== 200) return `wait: ${w.status} ${w.body}`;
    const code = (JSON.parse(w.body) as { StatusCode: number }).StatusCode;
    return code === 0 ? null : `exit ${code}`;
  }));
  assert.deepEqual(results.filter(Boolean), [], 'every run succeeds');
  t.diagnostic(`${N} concurrent runs through the API: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const ps = await api('GET', '/containers/json?all=1');
  assert.deepEqual(JSON.parse(ps.body), [], 'every --rm container is gone');
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(d.dir));
  assert.deepEqual(mounts, [], 'no mount left');
  assert.deepEqual(await fs.readdir(`${d.graph}/containers`), [], 'no container record left');
});

test('concurrent creates of one explicit name: one wins, the others get docker\'s 409', async () => {
  const rs = await Promise.all(Array.from({ length: 10 }, () => api('POST', '/containers/create?name=contested', { Image: 'busybox', Cmd: ['true'] })));
  const won = rs.filter((r) => r.status === 201);
  assert.equal(won.length, 1);
  const id = (JSON.parse(won[0].body) as { Id: string }).Id;
  for (const r of rs.filter((x) => x.status !== 201)) {
    assert.equal(r.status, 409);
    assert.equal((JSON.parse(r.body) as { message: string }).message,
      `Conflict. The container name "/contested" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`);
  }
  // rm frees the name; a rename frees the old one and takes the new one
  assert.equal((await api('POST', `/containers/${id}/rename?name=renamed`)).status, 204);
  const again = await api('POST', '/containers/create?name=contested', { Image: 'busybox', Cmd: ['true'] });
  assert.equal(again.status, 201);
  const clash = await api('POST', `/containers/${(JSON.parse(again.body) as { Id: string }).Id}/rename?name=renamed`);
  assert.equal(clash.status, 409);
  await d.ok(['rm', 'renamed', 'contested']);
  assert.equal((await api('POST', '/containers/create?name=renamed', { Image: 'busybox', Cmd: ['true'] })).status, 201);
  await d.ok(['rm', 'renamed']);
});
