// docker's list filters as dockerd 20.10 applies them (engine/api/filters.ts): both JSON
// encodings, refused keys and values with dockerd's words, path globs for references,
// regexps for names, labels ANDed, before/since by position, events' own matching.
import { matchLabels } from '../../src/engine/filters.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  familiarMatch, FilterArgs, matchEvent, pathMatch, selectContainers, selectImages, type ContainerFacts, type ImageFacts,
} from '../../src/engine/api/filters.js';
import { EventBus, type EngineEvent } from '../../src/engine/events.js';
import { humanStatus } from '../../src/engine/api/format.js';
import { humanDuration } from '../../src/common/duration.js';

describe('FilterArgs', () => {
  it('reads the map-of-sets encoding and the older map of arrays alike', () => {
    const a = FilterArgs.parse('{"status":{"exited":true},"label":{"a=1":true,"b":true}}');
    const b = FilterArgs.parse('{"status":["exited"],"label":["a=1","b"]}');
    for (const x of [a, b]) {
      assert.deepEqual(x.keys().sort(), ['label', 'status']);
      assert.deepEqual(x.get('label').sort(), ['a=1', 'b']);
      assert.ok(x.exactMatch('status', 'exited') && !x.exactMatch('status', 'running'));
    }
    assert.deepEqual(FilterArgs.parse('').keys(), []);
    assert.deepEqual(FilterArgs.parse(null).keys(), []);
  });

  it('malformed JSON and wrong shapes are 400s', () => {
    assert.throws(() => FilterArgs.parse('{'), (e: Error & { kind?: string }) => e.kind === 'InvalidArgument' && /invalid filters/.test(e.message));
    assert.throws(() => FilterArgs.parse('{"status":"exited"}'), /cannot unmarshal string/);
    assert.throws(() => FilterArgs.parse('[1]'), /cannot unmarshal array/);
  });

  it("refuses unknown keys as dockerd does: Invalid filter 'x'", () => {
    assert.throws(() => FilterArgs.parse('{"bogus":{"1":true}}').validate(['status']), (e: Error & { kind?: string }) =>
      e.kind === 'InvalidArgument' && e.message === "Invalid filter 'bogus'");
  });

  it('labels: every value must hold (k, or k=v)', () => {
    const f = FilterArgs.parse('{"label":["tier=front","app"]}');
    assert.ok(f.matchKVList('label', { tier: 'front', app: 'x' }));
    assert.ok(!f.matchKVList('label', { tier: 'front' }));
    assert.ok(!f.matchKVList('label', { tier: 'back', app: 'x' }));
    assert.ok(!f.matchKVList('label', null));
  });

  it('match is exact or a regexp found anywhere; a bad regexp never matches', () => {
    const f = FilterArgs.parse('{"name":["^we","(("]}');
    assert.ok(f.match('name', 'web'));
    assert.ok(!f.match('name', 'aweb'));
  });
});

describe('reference globs (path.Match, FamiliarMatch)', () => {
  it('matches as Go path.Match does', () => {
    assert.ok(pathMatch('busy*', 'busybox'));
    assert.ok(!pathMatch('*', 'a/b'));
    assert.ok(pathMatch('*/*', 'a/b'));
    assert.ok(pathMatch('b?sybox', 'busybox'));
    assert.ok(pathMatch('[a-c]usybox', 'busybox'));
    assert.ok(!pathMatch('[^b]usybox', 'busybox'));
    assert.ok(pathMatch('a\\*b', 'a*b'));
    assert.throws(() => pathMatch('[', 'x'), /syntax error in pattern/);
    assert.throws(() => pathMatch('a\\', 'x'), /syntax error in pattern/);
  });

  it('a reference matches by name:tag or by name alone', () => {
    assert.ok(familiarMatch('busybox', 'busybox:latest'));
    assert.ok(familiarMatch('busy*:*', 'busybox:latest'));
    assert.ok(familiarMatch('*:v2', 'busybox:v2'));
    assert.ok(!familiarMatch('busy', 'busybox:latest'));
    assert.ok(familiarMatch('127.0.0.1:5000/*', '127.0.0.1:5000/busybox:1'));
    assert.ok(familiarMatch('busybox', `busybox@sha256:${'a'.repeat(64)}`));
  });
});

const C = (id: string, name: string, createdMs: number, more: Partial<ContainerFacts> = {}): ContainerFacts => ({
  id: id.padEnd(64, '0'), names: [`/${name}`], createdMs, state: 'running', running: true, startedAtZero: false, exitCode: 0,
  labels: {}, imageId: 'sha256:bb', health: 'none', isolation: 'default', mounts: [], networks: [{ name: 'none', id: '' }], ports: [], ...more,
});
const LIST = [
  C('aa1', 'web', 1000, { labels: { tier: 'front' }, mounts: [{ source: '/srv', destination: '/data' }] }),
  C('aa2', 'done', 2000, { state: 'exited', running: false, exitCode: 3 }),
  C('bb3', 'fresh', 3000, { state: 'created', running: false, startedAtZero: true, imageId: 'sha256:other' }),
  C('cc4', 'db', 4000, { ports: [{ privatePort: 5432, publicPort: 15432, type: 'tcp' }, { privatePort: 9000, type: 'udp' }] }),
];
const lookups = {
  container: (ref: string) => {
    const c = LIST.find((x) => x.id === ref || x.names[0] === `/${ref}` || x.id.startsWith(ref));
    if (!c) throw new Error('no such');
    return c.id;
  },
  image: async (ref: string) => (ref === 'busybox' ? 'sha256:bb' : ref === 'mid' ? 'sha256:mid' : undefined),
  // busybox -> mid -> other: "fresh" runs a grandchild of busybox
  lineage: async () => [{ id: 'sha256:bb' }, { id: 'sha256:mid', parent: 'sha256:bb' }, { id: 'sha256:other', parent: 'sha256:mid' }],
};
const names = async (filters: unknown, opts: { all?: boolean; limit?: number } = {}) =>
  (await selectContainers(LIST, FilterArgs.parse(JSON.stringify(filters)), { all: !!opts.all, limit: opts.limit }, lookups)).map((c) => c.names[0]!.slice(1));

describe('containers (GET /containers/json)', () => {
  it('newest first; running ones unless all; status implies all', async () => {
    assert.deepEqual(await names({}), ['db', 'web']);
    assert.deepEqual(await names({}, { all: true }), ['db', 'fresh', 'done', 'web']);
    assert.deepEqual(await names({ status: ['exited'] }), ['done']);
    assert.deepEqual(await names({ status: ['created', 'exited'] }), ['fresh', 'done']);
  });

  it('exited needs a container that ran; id is a unique prefix; names are regexps', async () => {
    assert.deepEqual(await names({ exited: ['3'] }, { all: true }), ['done']);
    assert.deepEqual(await names({ exited: ['0'] }, { all: true }), []);
    assert.deepEqual(await names({ id: ['bb'] }, { all: true }), ['fresh']);
    assert.deepEqual(await names({ id: ['aa'] }, { all: true }), [], 'an ambiguous prefix matches nothing');
    assert.deepEqual(await names({ name: ['^d'] }, { all: true }), ['db', 'done']);
  });

  it('label, ancestor, volume, network, publish/expose, health, isolation, is-task', async () => {
    assert.deepEqual(await names({ label: ['tier=front'] }), ['web']);
    // an image's descendants count (dockerd's populateImageFilterByParents)
    assert.deepEqual(await names({ ancestor: ['busybox'] }, { all: true }), ['db', 'fresh', 'done', 'web']);
    assert.deepEqual(await names({ ancestor: ['mid'] }, { all: true }), ['fresh']);
    assert.deepEqual(await names({ ancestor: ['nothing'] }, { all: true }), []);
    assert.deepEqual(await names({ volume: ['/data'] }), ['web']);
    assert.deepEqual(await names({ volume: ['/srv'] }), ['web']);
    assert.deepEqual(await names({ network: ['none'] }), ['db', 'web']);
    // dockerd 20.10 (moby#40442): publish a running container's host ports, expose its container ports, either one
    assert.deepEqual(await names({ publish: ['15432'] }), ['db']);
    assert.deepEqual(await names({ publish: ['5432'] }), []);
    assert.deepEqual(await names({ expose: ['5000-6000/tcp'] }), ['db']);
    assert.deepEqual(await names({ expose: ['9000/udp'] }), ['db']);
    assert.deepEqual(await names({ publish: ['1'], expose: ['9000/udp'] }), ['db'], 'publish or expose');
    assert.deepEqual(await names({ expose: ['9000'] }), []);
    assert.deepEqual(await names({ health: ['none'] }), ['db', 'web']);
    assert.deepEqual(await names({ health: ['healthy'] }), []);
    assert.deepEqual(await names({ isolation: ['default'] }), ['db', 'web']);
    assert.deepEqual(await names({ 'is-task': ['false'] }), ['db', 'web']);
    assert.deepEqual(await names({ 'is-task': ['true'] }), []);
  });

  it('before and since by position; limit counts what passed', async () => {
    assert.deepEqual(await names({ before: ['fresh'] }, { all: true }), ['done', 'web']);
    assert.deepEqual(await names({ since: ['done'] }, { all: true }), ['db', 'fresh']);
    assert.deepEqual(await names({}, { limit: 2 }), ['db', 'fresh']);
  });

  it("refuses what dockerd refuses, in dockerd's words", async () => {
    const err = (f: unknown) => names(f).then(() => 'accepted', (e: Error) => e.message);
    assert.equal(await err({ bogus: ['1'] }), "Invalid filter 'bogus'");
    assert.equal(await err({ status: ['bogus'] }), "Invalid filter 'status=bogus'");
    assert.equal(await err({ 'is-task': ['maybe'] }), "Invalid filter 'is-task=[maybe]'");
    assert.equal(await err({ exited: ['x'] }), 'strconv.Atoi: parsing "x": invalid syntax');
    assert.equal(await err({ health: ['sick'] }), 'Unrecognised filter value for health: sick');
    assert.equal(await err({ before: ['nope'] }), 'No such container: nope');
    assert.equal(await err({ publish: ['1:2'] }), "filter for 'publish' should not contain ':': 1:2");
  });
});

const I = (id: string, createdMs: number, repoTags: string[], labels: Record<string, string> | null = null, repoDigests: string[] = []): ImageFacts =>
  ({ id, createdMs, repoTags, repoDigests, labels });
const IMAGES = [
  I('sha256:1', 1000, ['busybox:latest', 'busybox:v2', 'other/thing:1'], { v: '1' }),
  I('sha256:2', 2000, []),
  I('sha256:3', 3000, ['layered:latest']),
];
const pick = async (filters: unknown) => (await selectImages(IMAGES, FilterArgs.parse(JSON.stringify(filters)), async (ref) => {
  const i = IMAGES.find((x) => x.id === ref || x.repoTags.includes(ref.includes(':') ? ref : `${ref}:latest`));
  if (!i) throw new Error(`No such image: ${ref}`);
  return i;
})).map((x) => `${x.image.id}=${x.repoTags.join(',')}`);

describe('images (GET /images/json)', () => {
  it('reference keeps only the matching tags; an untagged image has none (each API version shows it its way)', async () => {
    assert.deepEqual(await pick({}), ['sha256:3=layered:latest', 'sha256:2=', 'sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    assert.deepEqual(await pick({ reference: ['busybox'] }), ['sha256:1=busybox:latest,busybox:v2']);
    assert.deepEqual(await pick({ reference: ['busy*:*'] }), ['sha256:1=busybox:latest,busybox:v2']);
    assert.deepEqual(await pick({ reference: ['*:v2', 'layered'] }), ['sha256:3=layered:latest', 'sha256:1=busybox:v2']);
  });

  it('dangling, before, since, label', async () => {
    assert.deepEqual(await pick({ dangling: ['true'] }), ['sha256:2=']);
    assert.deepEqual(await pick({ dangling: ['false'] }), ['sha256:3=layered:latest', 'sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    assert.deepEqual(await pick({ before: ['layered'] }), ['sha256:2=', 'sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    assert.deepEqual(await pick({ since: ['busybox'] }), ['sha256:3=layered:latest', 'sha256:2=']);
    assert.deepEqual(await pick({ label: ['v=1'] }), ['sha256:1=busybox:latest,busybox:v2,other/thing:1']);
  });

  it('until (API 1.44, unversioned): created before a time or a duration ago; the earliest of it and before= holds', async () => {
    assert.deepEqual(await pick({ until: ['1970-01-01T00:00:02Z'] }), ['sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    assert.deepEqual(await pick({ until: ['2.5'] }), ['sha256:2=', 'sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    assert.deepEqual(await pick({ until: ['1h'] }), ['sha256:3=layered:latest', 'sha256:2=', 'sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    assert.deepEqual(await pick({ until: ['2.5'], before: ['sha256:2'] }), ['sha256:1=busybox:latest,busybox:v2,other/thing:1']);
    await assert.rejects(pick({ until: ['xyz'] }), { message: 'failed to parse value as time or duration: "xyz"' });
  });

  it('refuses unknown keys and non-boolean dangling', async () => {
    await assert.rejects(pick({ bogus: ['1'] }), { message: "Invalid filter 'bogus'" });
    await assert.rejects(pick({ dangling: ['maybe'] }), { message: "Invalid filter 'dangling=[maybe]'" });
  });
});

describe('events (GET /events)', () => {
  const ev = (Type: EngineEvent['Type'], Action: string, ID: string, Attributes: Record<string, string>): EngineEvent =>
    ({ Type, Action, Actor: { ID, Attributes }, scope: 'local', time: 1, timeNano: 1 });
  const start = ev('container', 'start', 'c1'.padEnd(64, 'f'), { name: 'web', image: 'busybox', tier: 'front' });
  const execStart = ev('container', 'exec_start: sh -c true', 'c1'.padEnd(64, 'f'), { name: 'web', image: 'busybox' });
  const tag = ev('image', 'tag', 'sha256:abc', { name: 'docker.io/library/busybox:v1' });
  const m = (e: EngineEvent, f: unknown) => matchEvent(e, FilterArgs.parse(JSON.stringify(f)));

  it('container by id prefix or name; its filter leaves other types out', () => {
    assert.ok(m(start, { container: ['web'] }) && m(start, { container: ['c1'] }));
    assert.ok(!m(tag, { container: ['web'] }));
  });

  it('image by id, name, or name without tag; a container by the image it runs', () => {
    assert.ok(m(tag, { image: ['busybox'] }) && m(tag, { image: ['sha256:abc'] }));
    assert.ok(m(start, { image: ['busybox'] }));
    assert.ok(!m(start, { image: ['alpine'] }));
  });

  it('event exact (exec_start by prefix), type, label, scope; unknown keys ignored as dockerd does', () => {
    assert.ok(m(start, { event: ['start'] }) && !m(start, { event: ['stop'] }));
    assert.ok(m(execStart, { event: ['exec_start'] }));
    assert.ok(m(start, { type: ['container'] }) && !m(tag, { type: ['container'] }));
    assert.ok(m(start, { label: ['tier=front'] }) && !m(start, { label: ['tier=back'] }));
    assert.ok(m(start, { scope: ['local'] }) && !m(start, { scope: ['swarm'] }));
    assert.ok(m(start, { bogus: ['1'] }));
  });

  it('the event bus applies them', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    const stop = bus.subscribe({ filters: { event: ['die'], label: ['tier=front'] } }, (e) => seen.push(e.Actor.Attributes.name!));
    bus.emit('container', 'die', 'x', { name: 'a', tier: 'front' });
    bus.emit('container', 'die', 'y', { name: 'b', tier: 'back' });
    bus.emit('container', 'start', 'z', { name: 'c', tier: 'front' });
    stop();
    assert.deepEqual(seen, ['a']);
  });
});

describe('durations: one go-units HumanDuration for Status and CREATED', () => {
  it('truncates seconds and minutes, rounds hours, as go-units does', () => {
    assert.equal(humanDuration(90_000), 'About a minute');
    assert.equal(humanDuration(119_999), 'About a minute');
    assert.equal(humanDuration(120_000), '2 minutes');
    assert.equal(humanDuration(59 * 60_000 + 59_000), '59 minutes');
    assert.equal(humanDuration(90 * 60_000), '2 hours');
    assert.equal(humanDuration(3 * 86400_000), '3 days');
  });

  it('a container up 90 s is "Up About a minute", as its CREATED column says', () => {
    const now = Date.parse('2026-01-01T00:01:30Z');
    assert.equal(humanStatus({ Status: 'running', StartedAt: '2026-01-01T00:00:00Z', FinishedAt: '', ExitCode: 0 }, now), 'Up About a minute');
    assert.equal(humanStatus({ Status: 'restarting', StartedAt: '', FinishedAt: '2026-01-01T00:01:00Z', ExitCode: 1 }, now), 'Restarting (1) 30 seconds ago');
  });
});

it('prune\'s label!: what matches every label! filter is spared (dockerd\'s matchLabels: MatchKVList("label!")), the rest pruned', () => {
  const l = { a: '1', b: '2' };
  assert.equal(matchLabels(l, [], ['a']), false, 'label!=a: spared');
  assert.equal(matchLabels(l, [], ['a', 'c']), true, 'not every label! matches: pruned');
  assert.equal(matchLabels(l, [], ['a', 'b=2']), false);
  assert.equal(matchLabels(l, ['a=1'], ['c']), true);
  assert.equal(matchLabels(l, ['c'], []), false);
});
