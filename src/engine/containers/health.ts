// docker's healthchecks (daemon/health.go): while a container with a Healthcheck runs, its
// probe is exec'd in it every Interval (default 30s, the first one Interval after the start);
// exit 0 makes it healthy, anything else (a probe over Timeout, default 30s, or one that
// cannot run counts as -1) adds to the failing streak, which makes it unhealthy at Retries
// (default 3). Failures before the first success inside StartPeriod do not count. The last
// 5 probes are kept with their output (4096 bytes at most); each change of status is a
// "health_status: <status>" event. Paused containers are not probed.
import type { EventBus } from '../events.js';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import { goDuration } from '../../common/duration.js';
import type { ContainerHooks } from './hooks.js';
import type { ExecService } from './exec.js';
import type { Container, HealthConfig, HealthState } from './model.js';
import type { ImageConfig } from '../../image/types.js';
import { killExec } from '../../runtime/exec-signal.js';

/** docker's wire form of a healthcheck (create body, inspect, image config). */
export type DockerHealthcheck = NonNullable<ImageConfig['Healthcheck']>;

export function healthcheckToDocker(h: HealthConfig): DockerHealthcheck {
  // docker's HealthConfig marks every field omitempty: what was not set is not there
  return {
    ...(h.test.length ? { Test: h.test } : {}),
    ...(h.interval ? { Interval: h.interval } : {}),
    ...(h.timeout ? { Timeout: h.timeout } : {}),
    ...(h.startPeriod ? { StartPeriod: h.startPeriod } : {}),
    ...(h.retries ? { Retries: h.retries } : {}),
    ...(h.startInterval ? { StartInterval: h.startInterval } : {}),
  };
}

/** (a create body may hold nulls: they are the defaults, as unset fields) */
export function healthcheckFromDocker(d: { [K in keyof DockerHealthcheck]?: DockerHealthcheck[K] | null }): HealthConfig {
  return {
    test: d.Test ?? [], interval: d.Interval ?? 0, timeout: d.Timeout ?? 0, startPeriod: d.StartPeriod ?? 0, retries: d.Retries ?? 0,
    ...(d.StartInterval ? { startInterval: d.StartInterval } : {}),
  };
}

const SECOND = 1e9;
const DEFAULT_INTERVAL = 30 * SECOND;
const DEFAULT_TIMEOUT = 30 * SECOND;
const DEFAULT_RETRIES = 3;
const DEFAULT_START_INTERVAL = 5 * SECOND;
const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

/** The probe's argv, or null when the container has none (no Healthcheck, NONE, unknown type). */
export function probeCommand(h: HealthConfig | undefined): string[] | null {
  if (!h || !h.test.length) return null;
  const [kind, ...rest] = h.test;
  if (kind === 'CMD' && rest.length) return rest;
  if (kind === 'CMD-SHELL' && rest.length) return ['/bin/sh', '-c', rest.join(' ')];
  return null;
}

/**
 * dockerd's monitor (since 25): the StartInterval (default 5s) while the container is still
 * "starting" inside its start period, the Interval (default 30s) after; no start period, no
 * start interval.
 */
export function probeIntervalMs(rec: Pick<Container, 'config' | 'state'>, nowMs: number): number {
  const h = rec.config.healthcheck;
  const inStartPeriod = nowMs - Date.parse(rec.state.startedAt) < (h?.startPeriod ?? 0) / 1e6;
  if (inStartPeriod && rec.state.health?.status === 'starting') return (h?.startInterval || DEFAULT_START_INTERVAL) / 1e6;
  return (h?.interval || DEFAULT_INTERVAL) / 1e6;
}

interface Monitor { timer?: NodeJS.Timeout; stopped: boolean; kill?: () => void }

export interface HealthDeps {
  events: EventBus;
  log: Logger;
  attrs: (rec: Container) => Record<string, string>;
  /** The container's record as it is now, or undefined once it is gone. */
  get: (id: string) => Container | undefined;
}

export class HealthMonitors implements ContainerHooks {
  private readonly monitors = new Map<string, Monitor>();
  private exec?: ExecService;

  constructor(private readonly d: HealthDeps) {}

  /** The exec service runs the probes (it is made after the container service). */
  setExec(es: ExecService): void { this.exec = es; }

  async started(rec: Container): Promise<void> {
    this.stop(rec.id);
    if (!probeCommand(rec.config.healthcheck)) return;
    // dockerd's initHealthMonitor: a (re)start begins again at "starting", keeping the log
    rec.state.health = { status: 'starting', failingStreak: 0, log: rec.state.health?.log ?? [] };
    this.begin(rec);
  }

  async stopped(rec: Container): Promise<void> {
    // dockerd's CloseMonitorChannel: a stopped container's probes are over and its health
    // says unhealthy ("for compatibility reasons"), not the last probe's healthy; no event
    if (this.monitors.has(rec.id) && rec.state.health) rec.state.health.status = 'unhealthy';
    this.stop(rec.id);
  }

  async removed(rec: Container): Promise<void> { this.stop(rec.id); }

  async recovered(list: Container[]): Promise<void> {
    for (const rec of list) if (rec.state.status === 'running' || rec.state.status === 'paused') await this.started(rec);
  }

  close(): void {
    for (const id of [...this.monitors.keys()]) this.stop(id);
  }

  private stop(id: string): void {
    const m = this.monitors.get(id);
    if (!m) return;
    m.stopped = true;
    if (m.timer) clearTimeout(m.timer);
    m.kill?.();
    this.monitors.delete(id);
  }

  private begin(rec: Container): void {
    const m: Monitor = { stopped: false };
    this.monitors.set(rec.id, m);
    const next = () => {
      if (m.stopped) return;
      m.timer = setTimeout(() => {
        void this.tick(rec.id, m).catch((e) => this.d.log.warn('health check', { id: rec.id, err: errorMessage(e) })).finally(next);
      }, probeIntervalMs(this.d.get(rec.id) ?? rec, Date.now()));
      m.timer.unref();
    };
    next();
  }

  private async tick(id: string, m: Monitor): Promise<void> {
    const rec = this.d.get(id);
    if (!rec || m.stopped || rec.state.status !== 'running' || !this.exec) return;
    const h = rec.config.healthcheck!;
    const start = new Date();
    const result = await this.probe(rec, probeCommand(h)!, h.timeout || DEFAULT_TIMEOUT, m);
    if (m.stopped || !rec.state.health) return;
    this.record(rec, rec.state.health, { start: start.toISOString(), end: new Date().toISOString(), ...result }, start);
  }

  /** One run of the probe: its exit code and output, -1 with the reason when it could not finish. */
  private async probe(rec: Container, cmd: string[], timeoutNs: number, m: Monitor): Promise<{ exitCode: number; output: string }> {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    const output = () => Buffer.concat(chunks).toString('utf8') + (truncated ? '...' : '');
    try {
      const { Id } = await this.exec!.create(rec.id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
      const { handle, recorded } = await this.exec!.start(Id, false);
      handle.stdio?.onOutput((_s, data) => {
        const keep = Math.max(0, Math.min(MAX_OUTPUT - size, data.length));
        if (keep) { chunks.push(data.subarray(0, keep)); size += keep; }
        if (keep < data.length) truncated = true;
      });
      const kill = () => { void killExec(handle); };
      m.kill = kill;
      const ended = new Promise<void>((r) => { if (handle.stdio) handle.stdio.onEnd(r); else r(); });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutNs / 1e6); });
      const first = await Promise.race([recorded, timedOut]);
      clearTimeout(timer);
      m.kill = undefined;
      if (first === 'timeout') {
        kill();
        await recorded.catch(() => 0);
        const out = output();
        return { exitCode: -1, output: `Health check exceeded timeout (${goDuration(timeoutNs)})${out ? `: ${out}` : ''}` };
      }
      // the stream's last bytes may come just after the exit is recorded
      await Promise.race([ended, new Promise((r) => setTimeout(r, 1000).unref())]);
      return { exitCode: first, output: output() };
    } catch (e) {
      return { exitCode: -1, output: errorMessage(e) };
    }
  }

  /** dockerd's handleProbeResult. */
  private record(rec: Container, h: HealthState, entry: HealthState['log'][number], start: Date): void {
    const cfg = rec.config.healthcheck!;
    const old = h.status;
    h.log = [...h.log, entry].slice(-MAX_LOG);
    if (entry.exitCode === 0) {
      h.failingStreak = 0;
      h.status = 'healthy';
    } else {
      const inStartPeriod = h.status === 'starting' && start.getTime() - Date.parse(rec.state.startedAt) < cfg.startPeriod / 1e6;
      if (!inStartPeriod) {
        h.failingStreak++;
        if (h.failingStreak >= (cfg.retries > 0 ? cfg.retries : DEFAULT_RETRIES)) h.status = 'unhealthy';
      }
    }
    if (h.status !== old) this.d.events.emit('container', `health_status: ${h.status}`, rec.id, this.d.attrs(rec));
  }
}
