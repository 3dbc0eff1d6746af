// `tsula stats`: GET /containers/{id}/stats per container, shown as docker's stats table
// (CPU % from the sample and its precpu, memory without the page cache, network and block
// I/O, pids), once with --no-stream, else redrawn every half second until interrupted;
// without names, following containers as they start and die (docker's event handlers).
import type { Readable } from 'node:stream';
import type { CommandSpec, Parsed } from '../args.js';
import { jsonLines, seg } from '../client.js';
import type { Cli } from '../context.js';
import { truncateId, writeFormatted } from '../format.js';
import { bytesSize, humanSizeWithPrecision } from '../units.js';

export const spec: CommandSpec = {
  name: 'stats', usage: '[OPTIONS] [CONTAINER...]', desc: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { long: 'all', short: 'a', kind: 'bool', desc: 'Show all containers (default shows just running)' },
    { long: 'format', kind: 'string', desc: 'Pretty-print images using a Go template' },
    { long: 'no-stream', kind: 'bool', desc: 'Disable streaming stats and only pull the first result' },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
  ],
};

/** The parts of dockerd's stats JSON the table reads. */
export interface StatsJson {
  id?: string;
  name?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }> | null;
  pids_stats?: { current?: number };
}

const DEFAULT_FORMAT = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
const HEADERS = {
  ID: 'CONTAINER ID', Container: 'CONTAINER', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT',
  MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS',
};

/** docker's stats row (cli/command/container/stats_helpers.go and formatter_stats.go). */
export function statsRow(s: StatsJson, container: string, trunc: boolean): Record<string, string> {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const sysDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const cpus = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 0;
  const cpuPerc = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const m = s.memory_stats ?? {};
  // the page cache is not the container's: cgroup v1 names it total_inactive_file, v2 inactive_file
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
  const mem = (m.usage ?? 0) > cache ? (m.usage ?? 0) - cache : (m.usage ?? 0);
  const limit = m.limit ?? 0;
  let rx = 0; let tx = 0;
  for (const n of Object.values(s.networks ?? {})) { rx += n.rx_bytes ?? 0; tx += n.tx_bytes ?? 0; }
  let rd = 0; let wr = 0;
  for (const b of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (/^read$/i.test(b.op)) rd += b.value;
    else if (/^write$/i.test(b.op)) wr += b.value;
  }
  const id = s.id ?? container;
  return {
    ID: trunc ? truncateId(id) : id,
    Container: container,
    Name: (s.name ?? '').replace(/^\//, '') || '--',
    CPUPerc: `${cpuPerc.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}`,
    BlockIO: `${humanSizeWithPrecision(rd, 3)} / ${humanSizeWithPrecision(wr, 3)}`,
    PIDs: String(s.pids_stats?.current ?? 0),
  };
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const trunc = !p.bool('no-trunc');
  const all = p.bool('all');
  const format = !p.str('format') || p.str('format') === 'table' ? DEFAULT_FORMAT : p.str('format')!;
  // no names: every running container (-a: every one), named by its short id as docker does
  const showAll = p.args.length === 0;
  const listed = async () => (await cli.client.json<Array<{ Id: string }>>('GET', '/containers/json', { all })).map((c) => c.Id.slice(0, 12));
  const show = (rows: Array<Record<string, string>>) => writeFormatted(cli.out, format, rows, HEADERS, '*formatter.statsContext');
  if (p.bool('no-stream')) {
    const names = showAll ? await listed() : p.args;
    const rows = await Promise.all(names.map(async (n) => statsRow(await cli.client.json<StatsJson>('GET', `/containers/${seg(n)}/stats`, { stream: 0 }), n, trunc)));
    await show(rows);
    return 0;
  }
  // one stream per container; the table shows each one's last sample, redrawn twice a second
  const latest = new Map<string, Record<string, string>>();
  const following = new Map<string, { stop(): void }>();
  let failed: unknown;
  const follow = (n: string): Promise<void> => {
    if (following.has(n)) return Promise.resolve();
    let stopped = false;
    let res: Readable | null = null;
    following.set(n, { stop: () => { stopped = true; res?.destroy(); } });
    latest.set(n, statsRow({ name: n }, n, trunc));
    return (async () => {
      res = await cli.client.request({ method: 'GET', path: `/containers/${seg(n)}/stats`, query: { stream: 1 } });
      if (stopped) { res.destroy(); return; }
      for await (const s of jsonLines(res)) latest.set(n, statsRow(s as StatsJson, n, trunc));
    })().catch((e: unknown) => {
      // a named container that can't be followed fails the command; one that went is dropped
      if (!showAll && !stopped) failed ??= e;
    });
  };
  const drop = (n: string) => { following.get(n)?.stop(); following.delete(n); latest.delete(n); };
  const tty = !!cli.out.isTTY;
  const timer = setInterval(() => {
    if (tty) cli.out.write('\x1b[2J\x1b[H');
    void show([...latest.values()]);
  }, 500);
  try {
    if (!showAll) {
      await Promise.all(p.args.map(follow));
      if (failed) throw failed;
    } else {
      // as docker's: containers that start are added (with -a, those created), those that
      // die are dropped (with -a, those removed), until interrupted. Subscribed before the
      // list is read, as docker does, so that a container started in between is not missed.
      const events = await cli.client.request({ method: 'GET', path: '/events', query: { filters: JSON.stringify({ type: ['container'] }) } });
      for (const n of await listed()) void follow(n);
      for await (const ev of jsonLines(events)) {
        const action = String(ev.Action ?? ev.status ?? '');
        const id = String((ev.Actor as { ID?: string } | undefined)?.ID ?? ev.id ?? '').slice(0, 12);
        if (!id) continue;
        if (action === 'start' || (all && action === 'create')) void follow(id);
        else if ((!all && action === 'die') || action === 'destroy') drop(id);
      }
    }
  } finally {
    clearInterval(timer);
    for (const n of [...following.keys()]) following.get(n)!.stop();
  }
  await show([...latest.values()]);
  return 0;
}
