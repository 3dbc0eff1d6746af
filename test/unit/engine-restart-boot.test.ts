// tsulad's start-up restarts by policy (RestartManager.boot): a container with legacy links
// starts once the containers it links to have started (dockerd's restore waits for its
// children, up to 5 s), the others at once; a cycle of links waits that long, no more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RestartManager, checkRestartPolicy } from '../../src/engine/containers/restart.js';
import { Logger } from '../../src/common/log.js';
import type { Container } from '../../src/engine/containers/model.js';

function ctr(id: string, links: string[] = []): Container {
  return {
    id, name: id,
    config: { restartPolicy: { name: 'always', maxRetries: 0 }, networking: { legacyLinks: links.map((child) => ({ child, alias: child })) } },
    state: { status: 'exited', startedAt: '2026-12-06T00:00:00Z', exitCode: 0, restartCount: 0 },
  } as unknown as Container;
}

test('boot: a linking container starts after the ones it links to; a cycle does not hang', async () => {
  const order: string[] = [];
  const done: Record<string, () => void> = {};
  const finished = new Promise<void>((resolveAll) => {
    const m = new RestartManager({
      restartByPolicy: async () => {},
      start: (id) => new Promise<void>((r) => {
        order.push(`start ${id}`);
        done[id] = () => { order.push(`up ${id}`); r(); if (order.filter((x) => x.startsWith('up')).length === 5) resolveAll(); };
        // the children take a while; the others come up at once
        setTimeout(done[id]!, id === 'db' ? 50 : 1);
      }),
      isRunning: (id) => order.includes(`up ${id}`),
      log: new Logger('error'),
    });
    m.boot([ctr('app', ['db', 'cache']), ctr('db'), ctr('cache'), ctr('a', ['b']), ctr('b', ['a'])]);
  });
  const alive = setInterval(() => {}, 50); // the manager's waits do not hold the process (a cycle waits them out: 5 s)
  await finished;
  clearInterval(alive);
  assert.ok(order.indexOf('start app') > order.indexOf('up db'), order.join(', '));
  assert.ok(order.indexOf('start app') > order.indexOf('up cache'), order.join(', '));
  assert.ok(order.includes('up a') && order.includes('up b'));
});

test('exits found at start-up (while tsulad was down): a linking container is restarted once the ones it links to run', async () => {
  const up = new Set<string>();
  const order: string[] = [];
  let all!: () => void;
  const done = new Promise<void>((r) => { all = r; });
  const m = new RestartManager({
    restartByPolicy: async (id) => {
      order.push(`restart ${id}`);
      setTimeout(() => { up.add(id); order.push(`up ${id}`); if (up.size === 2) all(); }, id === 'db' ? 60 : 1);
    },
    start: async () => {},
    isRunning: (id) => up.has(id),
    log: new Logger('error'),
  });
  const died = (c: Container) => Object.assign(c.state, { finishedAt: '2020-01-01T00:00:00Z', startedAt: '2019-12-31T00:00:00Z' }) && c;
  const alive = setInterval(() => {}, 50); // the manager's timers do not hold the process
  assert.equal(m.exited(died(ctr('app', ['db']))), 'boot');
  assert.equal(m.exited(died(ctr('db'))), 'boot');
  await done;
  clearInterval(alive);
  assert.ok(order.indexOf('restart app') > order.indexOf('up db'), order.join(', '));
  m.close();
});

test('restart policies checked as moby\'s ValidateRestartPolicy (its test table), AutoRemove first', () => {
  const ok = [['', 0], ['', 123], ['', -123], ['no', 0], ['always', 0], ['unless-stopped', 0], ['on-failure', 0], ['on-failure', 5]] as const;
  for (const [n, c] of ok) assert.doesNotThrow(() => checkRestartPolicy(n, c, false), `${n}:${c}`);
  const bad: Array<[string, number, RegExp]> = [
    ['always', 123, /invalid restart policy: maximum retry count can only be used with 'on-failure'$/],
    ['unless-stopped', -123, /invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative$/],
    ['no', 1, /can only be used with 'on-failure'/],
    ['on-failure', -1, /invalid restart policy: maximum retry count cannot be negative$/],
    ['unknown', 0, /invalid restart policy: unknown policy 'unknown'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'$/],
  ];
  for (const [n, c, re] of bad) assert.throws(() => checkRestartPolicy(n, c, false), re);
  assert.throws(() => checkRestartPolicy('always', 3, true), /can't create 'AutoRemove' container with restart policy/);
  assert.doesNotThrow(() => checkRestartPolicy('no', 0, true));
});
