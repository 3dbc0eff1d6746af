// go-units compatible sizes and durations, and timestamp helpers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatEvent } from '../../src/cli/commands/events.js';
import { truncateId, ellipsis } from '../../src/cli/format.js';
import { parseRef, pullQuery, tagQuery, withDefaultTag } from '../../src/cli/reference.js';
import {
  bytesSize, goFormatG, humanDuration, humanSize, humanSizeWithPrecision, parseGoDuration, ramInBytes,
  rfc3339NanoFixed, timeAgo, toApiTimestamp, goTimeStringOf,
} from '../../src/cli/units.js';
import { formatContextJson } from '../../src/cli/template.js';
import { ansicDate } from '../../src/cli/commands/system.js';

describe('sizes', () => {
  it('HumanSizeWithPrecision(…, 3) as docker images prints', () => {
    assert.equal(humanSizeWithPrecision(4261234, 3), '4.26MB');
    assert.equal(humanSizeWithPrecision(0, 3), '0B');
    assert.equal(humanSizeWithPrecision(999, 3), '999B');
    assert.equal(humanSizeWithPrecision(1000, 3), '1kB');
    assert.equal(humanSizeWithPrecision(1234567890, 3), '1.23GB');
    assert.equal(humanSizeWithPrecision(999600, 3), '1e+03kB'); // go-units' own quirk
  });

  it('HumanSize (4 digits) and BytesSize (binary)', () => {
    assert.equal(humanSize(4261234), '4.261MB');
    assert.equal(humanSize(1e9), '1GB');
    assert.equal(bytesSize(8344186880), '7.771GiB');
    assert.equal(bytesSize(1024), '1KiB');
    assert.equal(bytesSize(512), '512B');
  });

  it('Go %g', () => {
    assert.equal(goFormatG(0.0001234, 3), '0.000123');
    assert.equal(goFormatG(0.00001234, 3), '1.23e-05');
    assert.equal(goFormatG(123.456, 4), '123.5');
    assert.equal(goFormatG(12345, 3), '1.23e+04');
  });

  it('RAMInBytes parses memory flags', () => {
    assert.equal(ramInBytes('64m'), 64 * 1024 * 1024);
    assert.equal(ramInBytes('64M'), 64 * 1024 * 1024);
    assert.equal(ramInBytes('1g'), 1024 ** 3);
    assert.equal(ramInBytes('512kb'), 512 * 1024);
    assert.equal(ramInBytes('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(ramInBytes('100'), 100);
    assert.throws(() => ramInBytes('64x'), /invalid size/);
  });
});

describe('durations', () => {
  it('HumanDuration', () => {
    const s = 1000;
    assert.equal(humanDuration(500), 'Less than a second');
    assert.equal(humanDuration(1 * s), '1 second');
    assert.equal(humanDuration(3 * s), '3 seconds');
    assert.equal(humanDuration(65 * s), 'About a minute');
    assert.equal(humanDuration(125 * s), '2 minutes');
    assert.equal(humanDuration(3600 * s), 'About an hour');
    assert.equal(humanDuration(30 * 3600 * s), '30 hours');
    assert.equal(humanDuration(3 * 86400 * s), '3 days');
    assert.equal(humanDuration(20 * 86400 * s), '2 weeks');
    assert.equal(humanDuration(90 * 86400 * s), '3 months');
    assert.equal(humanDuration(800 * 86400 * s), '2 years');
  });

  it('"… ago" for CREATED columns', () => {
    const now = 1_800_000_000_000;
    assert.equal(timeAgo(now / 1000 - 120, now), '2 minutes ago');
    assert.equal(timeAgo(now / 1000 - 70, now), 'About a minute ago');
  });

  it('Go durations and API timestamps for --since/--until', () => {
    assert.equal(parseGoDuration('1h30m'), 90 * 60_000);
    assert.equal(parseGoDuration('10m'), 600_000);
    assert.equal(parseGoDuration('1.5s'), 1500);
    assert.equal(parseGoDuration('abc'), undefined);
    const now = 1_800_000_000_000;
    assert.equal(toApiTimestamp('10m', now), '1799999400.000000000');
    assert.equal(toApiTimestamp('1700000000', now), '1700000000');
    assert.equal(toApiTimestamp('2026-01-02T03:04:05Z', now), '1767323045.000000000');
  });

  it('RFC 3339 with a fixed nanosecond fraction', () => {
    const prev = process.env.TZ;
    process.env.TZ = 'UTC';
    try {
      assert.equal(rfc3339NanoFixed(1795341600123456789n), '2026-11-22T10:00:00.123456789Z');
      assert.equal(rfc3339NanoFixed(1795341600n * 1_000_000_000n), '2026-11-22T10:00:00.000000000Z');
      const ev = { Type: 'container', Action: 'start', Actor: { ID: 'abc', Attributes: { name: 'x', image: 'busybox' } }, time: 1795341600 };
      assert.equal(formatEvent(ev, '1795341600000000001'), '2026-11-22T10:00:00.000000001Z container start abc (image=busybox, name=x)');
      assert.equal(formatEvent({ ...ev, Actor: { ID: 'abc' } }), '2026-11-22T10:00:00.000000000Z container start abc');
    } finally {
      if (prev === undefined) delete process.env.TZ;
      else process.env.TZ = prev;
    }
  });
});

describe('ids and references', () => {
  it('truncates ids and commands like docker', () => {
    assert.equal(truncateId(`sha256:${'a'.repeat(64)}`), 'a'.repeat(12));
    assert.equal(truncateId('b'.repeat(64)), 'b'.repeat(12));
    assert.equal(ellipsis("sh -c 'while true; do sleep 1; done'", 20), "sh -c 'while true; …");
    assert.equal(ellipsis('short', 20), 'short');
  });

  it('splits image references for the API', () => {
    assert.deepEqual(parseRef('127.0.0.1:5000/busybox:1.0'), { name: '127.0.0.1:5000/busybox', tag: '1.0', digest: undefined });
    assert.deepEqual(pullQuery('busybox'), { fromImage: 'busybox', tag: 'latest' });
    assert.deepEqual(pullQuery(`busybox@sha256:${'c'.repeat(64)}`), { fromImage: 'busybox', tag: `sha256:${'c'.repeat(64)}` });
    assert.deepEqual(pullQuery('localhost:5000/a/b'), { fromImage: 'localhost:5000/a/b', tag: 'latest' });
    assert.deepEqual(tagQuery('127.0.0.1:5000/bb:v1'), { repo: '127.0.0.1:5000/bb', tag: 'v1' });
    assert.equal(withDefaultTag('busybox'), 'busybox:latest');
    assert.equal(withDefaultTag('busybox:1'), 'busybox:1');
  });
});

describe('stats rows (docker stats_helpers)', () => {
  it('CPU % from the sample and its precpu, memory without the inactive page cache (v1 and v2)', async () => {
    const { statsRow } = await import('../../src/cli/commands/stats.js');
    const v1 = statsRow({
      id: 'a'.repeat(64), name: '/web',
      cpu_stats: { cpu_usage: { total_usage: 3_000_000, percpu_usage: [1, 2] }, system_cpu_usage: 20_000_000 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000 }, system_cpu_usage: 10_000_000 },
      memory_stats: { usage: 10 * 1024 * 1024, limit: 100 * 1024 * 1024, stats: { total_inactive_file: 2 * 1024 * 1024 } },
      networks: { eth0: { rx_bytes: 1500, tx_bytes: 20 }, eth1: { rx_bytes: 500, tx_bytes: 0 } },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 4096 }, { op: 'Write', value: 1_000_000 }, { op: 'Total', value: 1 }] },
      pids_stats: { current: 3 },
    }, 'web', true);
    assert.deepEqual(v1, {
      ID: 'aaaaaaaaaaaa', Container: 'web', Name: 'web', CPUPerc: '40.00%', MemUsage: '8MiB / 100MiB', MemPerc: '8.00%',
      NetIO: '2kB / 20B', BlockIO: '4.1kB / 1MB', PIDs: '3',
    });
    const v2 = statsRow({ cpu_stats: { cpu_usage: { total_usage: 5 }, online_cpus: 4 }, memory_stats: { usage: 3000, limit: 0, stats: { inactive_file: 1000 } } }, 'x', false);
    assert.equal(v2.CPUPerc, '0.00%');
    assert.equal(v2.MemUsage, '1.953KiB / 0B');
    assert.equal(v2.MemPerc, '0.00%');
    assert.equal(v2.ID, 'x');
  });
});

describe('formatter contexts as docker marshals them', () => {
  it('{{json .}} of a row: sorted keys, HTML escaped, no methods', () => {
    assert.equal(formatContextJson({ Ports: '0.0.0.0:80->80/tcp', Names: 'a&b', Label: () => '', Digest: '<none>' }),
      '{"Digest":"\\u003cnone\\u003e","Names":"a\\u0026b","Ports":"0.0.0.0:80-\\u003e80/tcp"}');
  });
  it("a network's Created as Go's time.Time prints it", () => {
    assert.equal(goTimeStringOf('2026-12-05T02:58:44.170Z'), '2026-12-05 02:58:44.17 +0000 UTC');
    assert.equal(goTimeStringOf('2026-12-05T02:58:44Z'), '2026-12-05 02:58:44 +0000 UTC');
    assert.equal(goTimeStringOf('2026-12-05T03:58:44.5+01:00'), '2026-12-05 03:58:44.5 +0100 +0100');
  });
});

describe("version's Built (docker's reformatDate)", () => {
  it('RFC 3339 as Go\'s ANSIC, in the text\'s own zone; anything else as it is', () => {
    assert.equal(ansicDate('2026-12-05T02:53:12.000Z'), 'Sat Dec  5 02:53:12 2026');
    assert.equal(ansicDate('2026-11-22T10:00:00+01:00'), 'Sun Nov 22 10:00:00 2026');
    assert.equal(ansicDate('yesterday'), 'yesterday');
  });
});
