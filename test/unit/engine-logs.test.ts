// readLogs over a k8s-file log: since/until/tail, and a follow that ends at the first record
// newer than `until` as dockerd's json-file reader does; a log that starts over past its max size;
// rotated logs (max-file).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiTimestampNs, readLogs, tailStart, type LogOptions } from '../../src/engine/containers/logs.js';
import { LogRotation, logFiles, rotateLog, rotatedLogs, runtimeLogCap, spreadLog } from '../../src/engine/containers/log-rotation.js';
import type { Container } from '../../src/engine/containers/model.js';
import { Logger } from '../../src/common/log.js';
import { detailsHead, goQueryEscape } from '../../src/engine/containers/log-attrs.js';

const T0 = Date.parse('2026-01-01T00:00:00Z') / 1000;
const at = (s: number) => new Date((T0 + s) * 1000).toISOString().replace('Z', '000000Z');
const line = (s: number, text: string) => `${at(s)} stdout F ${text}\n`;
const S = (s: number) => BigInt(T0 + s) * 1_000_000_000n;

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

async function logFile(lines: string[]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-logs-'));
  dirs.push(dir);
  const file = path.join(dir, 'ctr.log');
  await fs.writeFile(file, lines.join(''));
  return file;
}

async function collect(file: string, o: Partial<LogOptions>): Promise<string> {
  let out = '';
  await readLogs(file, { follow: false, tail: null, ...o }, (r) => { out += r.data.toString(); });
  return out;
}

test('readLogs: since, until and tail select records', async () => {
  const file = await logFile([line(0, 'a'), line(10, 'b'), line(20, 'c'), line(30, 'd')]);
  assert.equal(await collect(file, {}), 'a\nb\nc\nd\n');
  assert.equal(await collect(file, { since: S(10) }), 'b\nc\nd\n');
  assert.equal(await collect(file, { until: S(20) }), 'a\nb\nc\n');
  assert.equal(await collect(file, { since: S(5), until: S(25) }), 'b\nc\n');
  assert.equal(await collect(file, { tail: 2 }), 'c\nd\n');
  assert.equal(await collect(file, { tail: 0 }), '');
  await fs.rm(path.dirname(file), { recursive: true });
});

test('a log bigger than a read: read a chunk at a time, --tail from the end (moby\'s tailfile), characters cut by no chunk', async () => {
  // ~5 MiB of records, each with a 3-byte character, so that chunk ends fall inside some
  const n = 40_000;
  const lines = Array.from({ length: n }, (_, i) => line(i, `record ${i} ${'€'.repeat(40)}`));
  const file = await logFile(lines);
  const h = await fs.open(file, 'r');
  const { size } = await h.stat();
  assert.deepEqual(await tailStart(h, size, 2), { start: size - Buffer.byteLength(lines.at(-2)! + lines.at(-1)!), lines: 2 });
  assert.deepEqual(await tailStart(h, size, 0), { start: size, lines: 0 });
  assert.deepEqual(await tailStart(h, size, n + 5), { start: 0, lines: n });
  await h.close();
  assert.equal(await collect(file, { tail: 3 }), [n - 3, n - 2, n - 1].map((i) => `record ${i} ${'€'.repeat(40)}\n`).join(''));
  const all = await collect(file, {});
  assert.equal(all.split('\n').length - 1, n);
  assert.ok(!all.includes('\ufffd'), 'no character cut in two');
  // backpressure: drain is awaited between batches
  let drains = 0;
  await readLogs(file, { follow: false, tail: null, drain: async () => { drains++; } }, () => {});
  assert.ok(drains >= 5, `${drains} batches`);
  // a partial last line (no newline yet) is no record, and --tail counts from the line before it
  const cut = await logFile([line(0, 'a'), line(1, 'b'), `${at(2)} stdout F c-not-ended`]);
  assert.equal(await collect(cut, { tail: 1 }), 'b\n');
  // conmon's partial records continue a line: --tail counts lines (full records), never starts inside one
  const P = (s: number, text: string) => `${at(s)} stdout P ${text}\n`;
  const parts = await logFile([line(0, 'a'), P(1, 'b1-'), P(1, 'b2-'), line(1, 'b3'), P(2, 'c1-'), line(2, 'c2'), line(3, 'd')]);
  assert.equal(await collect(parts, { tail: 1 }), 'd\n');
  assert.equal(await collect(parts, { tail: 2 }), 'c1-c2\nd\n');
  assert.equal(await collect(parts, { tail: 3 }), 'b1-b2-b3\nc1-c2\nd\n');
  assert.equal(await collect(parts, { tail: 9 }), 'a\nb1-b2-b3\nc1-c2\nd\n');
  assert.equal(await collect(parts, { tail: 0 }), '');
});

test('since and until at the nanosecond, as dockerd compares them (a client resumes at the last line + 1 ns)', async () => {
  const file = await logFile(['2026-01-01T00:00:05.072732252Z stdout F a\n', '2026-01-01T00:00:05.072732253+00:00 stdout F b\n']);
  const t = apiTimestampNs(`${T0 + 5}.072732253`);
  assert.equal(await collect(file, { since: t }), 'b\n');
  assert.equal(await collect(file, { until: t - 1n }), 'a\n');
  assert.equal(apiTimestampNs('12.5'), 12_500_000_000n);
  // dockerd's timetypes.ParseTimestamps: a sign is a number (before the epoch), the rest strconv's error (a 500)
  assert.equal(apiTimestampNs('-5'), -5_000_000_000n);
  assert.throws(() => apiTimestampNs('1h'), (e: Error & { kind?: string }) => e.kind === 'Internal' && e.message === 'strconv.ParseInt: parsing "1h": invalid syntax');
  await fs.rm(path.dirname(file), { recursive: true });
});

test('readLogs: follow with until stops at the first newer record, even while the container runs', async () => {
  const file = await logFile([line(0, 'a'), line(10, 'b')]);
  const never = new Promise<void>(() => {}); // the container never stops
  let out = '';
  const done = readLogs(file, { follow: true, tail: null, until: S(15), stopped: never }, (r) => { out += r.data.toString(); });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(out, 'a\nb\n');
  await fs.appendFile(file, line(12, 'c') + line(20, 'late'));
  await done; // resolves without the container stopping
  assert.equal(out, 'a\nb\nc\n');
  // a log that already holds a record past until is not followed at all
  assert.equal(await collect(file, { follow: true, until: S(11), stopped: never }), 'a\nb\n');
  await fs.rm(path.dirname(file), { recursive: true });
});

test('readLogs: follow with until ending in the future keeps following until the container stops', async () => {
  const file = await logFile([line(0, 'a')]);
  let stop = (): void => {};
  const stopped = new Promise<void>((r) => { stop = r; });
  let out = '';
  const done = readLogs(file, { follow: true, tail: null, until: S(100), stopped }, (r) => { out += r.data.toString(); });
  await fs.appendFile(file, line(50, 'b'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(out, 'a\nb\n');
  stop();
  await done;
  await fs.rm(path.dirname(file), { recursive: true });
});

test('K8sLogWriter with sizeMax starts the file over; a follower reads the old file to its end, then the new one', async () => {
  const { K8sLogWriter } = await import('../../src/runtime/shimv2/klog.js');
  const file = await logFile([]);
  const w = new K8sLogWriter(file, 400);
  let out = '';
  let stop!: () => void;
  const stopped = new Promise<void>((r) => { stop = r; });
  const following = readLogs(file, { follow: true, tail: null, stopped }, (r) => { out += r.data.toString(); });
  const sizes: number[] = [];
  for (let i = 0; i < 40; i++) {
    w.write('stdout', Buffer.from(`line-${i}\n`));
    if (i % 5 === 4) {
      await new Promise((r) => setTimeout(r, 30)); // a pace a reader keeps up with
      sizes.push((await fs.stat(file)).size);
    }
  }
  await w.close();
  await new Promise((r) => setTimeout(r, 50));
  stop();
  await following;
  assert.ok(sizes.every((s) => s <= 400), `sizes ${sizes.join(' ')}`);
  assert.equal(out, Array.from({ length: 40 }, (_, i) => `line-${i}\n`).join(''));
  const kept = await collect(file, {});
  assert.match(kept, /line-39\n$/);
  assert.doesNotMatch(kept, /^line-0$/m);
  // a writer opened again (tsulad restarted) counts what the file holds
  const again = new K8sLogWriter(file, 400);
  for (let i = 40; i < 50; i++) again.write('stdout', Buffer.from(`line-${i}\n`));
  await again.close();
  assert.ok((await fs.stat(file)).size <= 400);
});

test("K8sLogWriter.reopen after kubelet's rename: a new file is at the path when it resolves, older records stay in the renamed one, later ones go to the new one", async () => {
  const { K8sLogWriter } = await import('../../src/runtime/shimv2/klog.js');
  const file = await logFile([]);
  const w = new K8sLogWriter(file, 1 << 20);
  w.write('stdout', Buffer.from('before-1\n'));
  // the writer has its file open (it opens it in the background)
  for (let i = 0; i < 100 && (await fs.stat(file)).size === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await fs.rename(file, `${file}.1`);
  w.write('stdout', Buffer.from('before-2\n')); // between the rename and the reopen: the old file's
  await w.reopen();
  assert.ok((await fs.stat(file)).isFile(), 'a new file at the path');
  w.write('stderr', Buffer.from('after\n'));
  await w.close();
  assert.equal(await collect(`${file}.1`, {}), 'before-1\nbefore-2\n');
  assert.equal(await collect(file, {}), 'after\n');
  await fs.rm(path.dirname(file), { recursive: true });
});

test('readLogs: follow --tail 0 of an empty log emits what comes after', async () => {
  const file = await logFile([]);
  let out = '';
  let stop!: () => void;
  const stopped = new Promise<void>((r) => { stop = r; });
  const following = readLogs(file, { follow: true, tail: 0, stopped }, (r) => { out += r.data.toString(); });
  await new Promise((r) => setTimeout(r, 50));
  await fs.appendFile(file, line(1, 'later'));
  await new Promise((r) => setTimeout(r, 100));
  stop();
  await following;
  assert.equal(out, 'later\n');
});

test('rotated logs (max-file): rotateLog shifts the files up, readLogs reads them oldest first, --tail across them', async () => {
  const file = await logFile([line(0, 'a')]);
  await rotateLog(file, 3);
  await fs.writeFile(file, line(1, 'b'));
  await rotateLog(file, 3);
  await fs.writeFile(file, line(2, 'c'));
  assert.deepEqual(await rotatedLogs(file, 3), [`${file}.2`, `${file}.1`]);
  await rotateLog(file, 3); // a dropped: max-file 3 keeps the log and two more
  await fs.writeFile(file, line(3, 'd') + line(4, 'e'));
  const rotated = await rotatedLogs(file, 3);
  assert.deepEqual(rotated, [`${file}.2`, `${file}.1`]);
  assert.equal(await collect(file, { maxFiles: 3 }), 'b\nc\nd\ne\n');
  assert.equal(await collect(file, { maxFiles: 3, tail: 3 }), 'c\nd\ne\n');
  assert.equal(await collect(file, { maxFiles: 3, since: S(2), until: S(3) }), 'c\nd\n');
  // no log file (between a rotation and the runtime's reopen): the rotated ones alone
  await fs.rm(file);
  assert.equal(await collect(file, { maxFiles: 3, tail: 1 }), 'c\n');
});

test('LogRotation rotates a log that reached max-size and has the runtime reopen it; none for one file', async () => {
  const file = await logFile([line(0, 'x'.repeat(100))]);
  const reopened: string[] = [];
  const lr = new LogRotation({ log: new Logger('error'), reopen: async (id) => { reopened.push(id); await fs.writeFile(file, ''); }, canReopen: (r) => r.id !== 'vm', maxIntervalMs: 20, minIntervalMs: 5 });
  const rec = (id: string, maxFile: string) => ({ id, paths: { log: file }, config: { logSizeMax: 50, logOpts: { 'max-size': '50', 'max-file': maxFile } } }) as unknown as Container;
  try {
    await lr.started(rec('one', '1'));
    await lr.started(rec('vm', '2'));
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(reopened, [], 'max-file 1, or a runtime that cannot reopen its log: it starts the file over itself');
    await lr.started(rec('two', '2'));
    for (let i = 0; i < 50 && !reopened.length; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(reopened, ['two']);
    assert.match(await fs.readFile(`${file}.1`, 'utf8'), /x{100}/);
    assert.equal(logFiles(rec('x', '3')), 3);
    assert.equal(runtimeLogCap(rec('x', '3'), true), 50 + (4 << 20));
    assert.equal(runtimeLogCap(rec('x', '3'), false), 50);
    assert.equal(runtimeLogCap(rec('x', '1'), true), 50);
  } finally {
    lr.close();
  }
});

test('spreadLog: a stopped container\'s log past max-size is cut at record starts into max-file files of at most max-size, the rest dropped', async () => {
  const lines = Array.from({ length: 100 }, (_, i) => line(i, `line ${String(i).padStart(3, '0')}`));
  const file = await logFile(lines);
  await fs.writeFile(`${file}.1`, line(-1, 'older')); // rotated before: now beyond what max-file keeps
  const size = Buffer.byteLength(lines[0]!); // every line is as long
  const max = 3 * size + 5;
  await spreadLog(file, 3, max);
  const parts = [`${file}.2`, `${file}.1`, file];
  for (const f of parts) assert.ok((await fs.stat(f)).size <= max, f);
  // three whole lines per file, consecutive, ending with the last one written
  const kept = await collect(file, { maxFiles: 3 });
  assert.equal(kept, Array.from({ length: 9 }, (_, i) => `line 0${91 + i}\n`).join(''));
  assert.ok(!(await fs.readdir(path.dirname(file))).some((n) => n.endsWith('.tmp')));
  // within max-size: untouched; a record longer than max-size is kept whole
  await spreadLog(file, 3, max);
  assert.equal(await collect(file, { maxFiles: 3 }), kept);
  const long = await logFile([line(0, 'a'), line(1, 'b'.repeat(500))]);
  await spreadLog(long, 2, 100);
  assert.equal(await collect(long, { maxFiles: 2 }), `a\n${'b'.repeat(500)}\n`);
  assert.equal(await fs.readFile(`${long}.1`, 'utf8'), line(0, 'a'));
  const oneFileTwo = await logFile(lines.slice(0, 10));
  await spreadLog(oneFileTwo, 2, 2 * size);
  assert.equal(await collect(oneFileTwo, { maxFiles: 2 }), 'line 006\nline 007\nline 008\nline 009\n');
});

test('a burst rotated in one piece: once the runtime wrote the new log, .1 is cut into max-size files (spreadLog from .1), the older ones moved up', async () => {
  const lines = Array.from({ length: 10 }, (_, i) => line(i, `burst ${i}`));
  const size = Buffer.byteLength(lines[0]!);
  const file = await logFile(lines); // 10 lines where max-size holds 3: a burst between two looks
  await fs.writeFile(`${file}.1`, line(-2, 'older'));
  const reopened: string[] = [];
  const lr = new LogRotation({ log: new Logger('error'), reopen: async (id) => { reopened.push(id); await fs.writeFile(file, line(20, 'after')); }, canReopen: () => true, maxIntervalMs: 20, minIntervalMs: 5 });
  const rec = { id: 'b', paths: { log: file }, config: { logSizeMax: 3 * size + 5, logOpts: { 'max-size': 'x', 'max-file': '4' } } } as unknown as Container;
  try {
    await lr.started(rec);
    // the spread writes .3, then .2, then .1 in place: done when .1 is within max-size
    const spread = async () => (await fs.stat(`${file}.1`).then((st) => st.size <= 3 * size + 5, () => false)) && fs.access(`${file}.3`).then(() => true, () => false);
    for (let i = 0; i < 200 && !(await spread()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(reopened, ['b']);
    for (const f of [`${file}.3`, `${file}.2`, `${file}.1`, file]) assert.ok((await fs.stat(f)).size <= 3 * size + 5, f);
    // max-file 4: the log, and three files of the burst's last lines; "older" went
    assert.equal(await collect(file, { maxFiles: 4 }), [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `burst ${i}\n`).join('') + 'after\n');
  } finally {
    lr.close();
  }
  const f2 = await logFile([line(0, 'now')]);
  await fs.writeFile(`${f2}.1`, lines.slice(0, 4).join(''));
  await fs.writeFile(`${f2}.2`, line(-1, 'prev'));
  await spreadLog(f2, 4, 2 * size, 1);
  assert.equal(await collect(f2, { maxFiles: 4 }), 'prev\nburst 0\nburst 1\nburst 2\nburst 3\nnow\n');
});

test('bursts one after another keep the stream whole: a burst is cut together with the short file an earlier cut left (spreadLog through), as one json-file stream', async () => {
  const lines = Array.from({ length: 30 }, (_, i) => line(i, `s ${String(i).padStart(2, '0')}`));
  const size = Buffer.byteLength(lines[0]!);
  const max = 10 * size;
  const file = await logFile([]);
  // an earlier burst's short end (.3), a full file (.2), and a burst of 15 lines (.1)
  await fs.writeFile(`${file}.3`, lines.slice(0, 3).join(''));
  await fs.writeFile(`${file}.2`, lines.slice(3, 13).join(''));
  await fs.writeFile(`${file}.1`, lines.slice(13, 28).join(''));
  await fs.writeFile(file, lines.slice(28).join(''));
  await spreadLog(file, 5, max, 1, 3);
  // 28 lines in 10-line files from the newest: 10, 10, 8; nothing lost, in order, no .joined.tmp left
  assert.deepEqual(await Promise.all([1, 2, 3].map((i) => fs.stat(`${file}.${i}`).then((st) => st.size / size))), [10, 10, 8]);
  assert.equal(await collect(file, { maxFiles: 5 }), lines.map((_, i) => `s ${String(i).padStart(2, '0')}\n`).join(''));
  assert.ok(!(await fs.readdir(path.dirname(file))).some((n) => n.endsWith('.tmp')));
  // fewer pieces than files: the older ones move down, none is left behind
  const f2 = await logFile([]);
  await fs.writeFile(`${f2}.4`, line(-1, 'oldest'));
  await fs.writeFile(`${f2}.3`, lines.slice(0, 2).join(''));
  await fs.writeFile(`${f2}.2`, lines.slice(2, 4).join(''));
  await fs.writeFile(`${f2}.1`, lines.slice(4, 6).join(''));
  await spreadLog(f2, 5, max, 1, 3);
  assert.deepEqual((await fs.readdir(path.dirname(f2))).filter((n) => n.startsWith(path.basename(f2))).sort(), [path.basename(f2), `${path.basename(f2)}.1`, `${path.basename(f2)}.2`]);
  assert.equal(await collect(f2, { maxFiles: 5 }), `oldest\n${lines.slice(0, 6).map((_, i) => `s 0${i}\n`).join('')}`);
});

test('log attributes: Go\'s QueryEscape, sorted keys, labels-regex only with labels (as dockerd reads it)', () => {
  assert.equal(goQueryEscape("a b!'()*~._-/="), "a+b%21%27%28%29%2A~._-%2F%3D");
  const c = (logOpts: Record<string, string>) => ({ config: { logOpts, labels: { b: '1', a: 'x y', c: '3' }, env: ['E=v', 'F=w=z', 'G'] } }) as never;
  assert.equal(detailsHead(c({})), ' ');
  assert.equal(detailsHead(c({ labels: 'b,a', env: 'F,G' })), 'F=w%3Dz,a=x+y,b=1 ');
  assert.equal(detailsHead(c({ 'labels-regex': '^c' })), ' ');
  assert.equal(detailsHead(c({ labels: 'a', 'labels-regex': '^c', 'env-regex': '^E' })), 'E=v,a=x+y,c=3 ');
});

test('K8sLogWriter: a record per line however the output comes (byte by byte too), a 16 KiB piece of a longer line as P, what is left at close as P (containerd\'s redirectLogs)', async () => {
  const { K8sLogWriter } = await import('../../src/runtime/shimv2/klog.js');
  const file = await logFile([]);
  const w = new K8sLogWriter(file);
  for (const ch of 'hello\nworld\n') w.write('stdout', Buffer.from(ch));
  w.write('stderr', Buffer.from('err'));
  w.write('stdout', Buffer.from('x'.repeat(20 * 1024) + '\npart'));
  w.write('stderr', Buffer.from('or\n'));
  await w.close();
  const recs = (await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => { const f = l.split(' '); return `${f[1]} ${f[2]} ${f.slice(3).join(' ').length}`; });
  assert.deepEqual(recs, ['stdout F 5', 'stdout F 5', 'stdout P 16384', 'stdout F 4096', 'stderr F 5', 'stdout P 4']);
  assert.equal(await collect(file, {}), `hello\nworld\n${'x'.repeat(20 * 1024)}\nerror\npart`);
  await fs.rm(path.dirname(file), { recursive: true });
});
