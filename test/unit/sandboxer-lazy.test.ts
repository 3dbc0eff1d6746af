// What lets an idle sandboxer hold no protobuf and no VM code: a kind that loads with its
// first sandbox (kinds/lazy.ts), event timestamps made without protobuf's runtime (topics.ts),
// and log timestamps without Date#toISOString (common/log.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { lazyKind } from '../../src/sandboxer/kinds/lazy.js';
import { KINDS } from '../../src/sandboxer/kinds/index.js';
import type { SandboxKind, SandboxRecord } from '../../src/sandboxer/kinds/types.js';
import { ts } from '../../src/sandboxer/tasks/topics.js';
import { isoTime } from '../../src/common/log.js';

const rec = (id: string): SandboxRecord => ({ id, kind: 'k', createdAt: '', netnsPath: '', annotations: {}, state: 'ready', pid: 1, kindState: {} });

function fakeKind(calls: string[]): SandboxKind {
  return {
    name: 'k',
    start: async (sb) => { calls.push(`start ${sb.id}`); return { pid: 7, kindState: {} }; },
    alive: async (sb) => { calls.push(`alive ${sb.id}`); return true; },
    stop: async (sb) => { calls.push(`stop ${sb.id}`); },
    joinSpec: () => { calls.push('joinSpec'); },
    runtime: async () => { throw new Error('no runtime in this fake'); },
    close: async () => { calls.push('close'); },
  };
}

test('a lazy kind loads on its first use, once; refusing a request and closing unused load nothing', async () => {
  let loads = 0;
  const calls: string[] = [];
  const k = lazyKind('k', async () => { loads++; return fakeKind(calls); }, {
    validate: (r) => { if (r.hostNetwork) throw new Error('no host network'); }, joinSpec: () => {}, ownRuntime: false,
  });
  assert.throws(() => k.validate!({ id: 'a', netnsPath: '', hostNetwork: true, annotations: {} }), /no host network/);
  k.joinSpec(rec('a'), {} as Parameters<SandboxKind['joinSpec']>[1]);
  assert.equal(k.runtime, undefined, 'a kind without a runtime of its own must not seem to have one (hasOwnRuntime)');
  assert.equal(loads, 0);
  const [a, b] = await Promise.all([k.start(rec('a'), '/d'), k.alive(rec('b'))]);
  assert.deepEqual([a.pid, b], [7, true]);
  await k.stop(rec('a'), 0);
  await k.close!();
  assert.equal(loads, 1);
  assert.deepEqual(calls, ['start a', 'alive b', 'stop a', 'close']);

  const never = lazyKind('k', async () => { throw new Error('must not load'); }, { joinSpec: () => {}, ownRuntime: true });
  await never.close!();
  assert.equal(typeof never.runtime, 'function');
});

test('a lazy kind whose load failed tries again at the next call', async () => {
  let n = 0;
  const k = lazyKind('k', async () => { if (n++ === 0) throw new Error('broken install'); return fakeKind([]); }, { joinSpec: () => {}, ownRuntime: false });
  await assert.rejects(k.alive(rec('a')), /broken install/);
  assert.equal(await k.alive(rec('a')), true);
});

test('the registry\'s vmm kind refuses what a VM pod can\'t do without loading the VM code', () => {
  const k = KINDS.vmm({ stateDir: '/nonexistent' });
  assert.equal(typeof k.runtime, 'function');
  assert.throws(() => k.validate!({ id: 'p', netnsPath: '', hostNetwork: true, annotations: {} }), /hostNetwork is not supported for VM pods/);
  assert.throws(() => k.validate!({ id: 'p', netnsPath: '', hostNetwork: false, annotations: { 'io.tsula.hostname': 'a b' } }), /is not a valid hostname/);
});

test('event timestamps: the same bytes as protobuf\'s timestampFromDate, and Go\'s zero time for none', () => {
  const enc = (t: Parameters<typeof create<typeof TimestampSchema>>[1]) => Buffer.from(toBinary(TimestampSchema, create(TimestampSchema, t))).toString('hex');
  for (const ms of [0, 1, 999, 1000, 1_764_766_123_456, -1, -1001, -62_135_596_800_000, 253_402_300_799_999]) {
    assert.equal(enc(ts(new Date(ms))), enc(timestampFromDate(new Date(ms))), String(ms));
  }
  assert.deepEqual(ts(null), { seconds: -62135596800n, nanos: 0 });
});

test('log timestamps are Date#toISOString\'s text', () => {
  for (let ms = -8.64e15; ms <= 8.64e15; ms += 7.3e12 + 12_345) {
    assert.equal(isoTime(new Date(ms)), new Date(ms).toISOString(), String(ms));
  }
  for (const ms of [0, -1, 1_764_766_123_456, -62_167_219_200_000, 253_402_300_800_000, -62_198_755_200_001]) {
    assert.equal(isoTime(new Date(ms)), new Date(ms).toISOString(), String(ms));
  }
});
