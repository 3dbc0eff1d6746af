// A port published on a loopback address (`-p 127.0.0.1:8080:80`) must stay the host's own.
// portmap's DNAT matches whatever interface a packet comes in on, and after the DNAT the
// kernel's martian check sees the container's address, so a neighbour that routes
// 127.0.0.0/8 to this host would reach the container (moby#45610). dockerd drops such
// packets in raw PREROUTING, one rule a loopback binding (its iptabler's
// filterPortMappedOnLoopback); so does tsulad, from before the DNAT is installed until the
// ports are released. Each rule carries its container's id in a comment, so a restart can
// take away those of containers that stopped while tsulad was down.
import * as net from 'node:net';
import { errorMessage, internal } from '../../common/errors.js';
import { exec, shellQuote, type ExecResult } from '../../common/exec.js';
import type { Logger } from '../../common/log.js';
import type { PortBinding } from '../containers/model.js';

const TIMEOUT_MS = 15_000;
const COMMENT = (id: string) => `tsula-loopback ${id}`;

/** The raw-table rule for one IPv4 loopback binding, without its -A/-D/-C. */
export function loopbackDropRule(id: string, proto: string, ip: string, port: string): string[] {
  return ['PREROUTING', '-p', proto, '-d', ip, '--dport', port, '!', '-i', 'lo', '-m', 'comment', '--comment', COMMENT(id), '-j', 'DROP'];
}

/** The container's IPv4 loopback bindings' rules (IPv6's ::1 is never DNATed: nothing to guard). */
export function loopbackRules(id: string, bindings: Record<string, PortBinding[]>): string[][] {
  return Object.entries(bindings).flatMap(([key, list]) => {
    const proto = key.split('/')[1] ?? 'tcp';
    return list.filter((b) => net.isIPv4(b.hostIp) && b.hostIp.startsWith('127.')).map((b) => loopbackDropRule(id, proto, b.hostIp, b.hostPort));
  });
}

/** The rules of each container's loopback bindings, added while its ports are published. */
export class LoopbackGuard {
  private readonly rules = new Map<string, string[][]>();
  /** One iptables run at a time: a stop's removal never lands after the next start's add. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly log: Logger) {}

  /** Add the container's rules (idempotent: a rule already there is kept); fails the publish if iptables does. */
  async add(id: string, bindings: Record<string, PortBinding[]>): Promise<void> {
    const rules = loopbackRules(id, bindings);
    if (!rules.length) return;
    this.rules.set(id, [...(this.rules.get(id) ?? []), ...rules]);
    const script = rules.map((r) => `iptables -w -t raw -C ${r.map(shellQuote).join(' ')} 2>/dev/null || iptables -w -t raw -I ${r.map(shellQuote).join(' ')}`).join('\n');
    const x = await this.run(`set -e\n${script}`);
    if (x.code !== 0) throw internal(`dropping remote traffic to the loopback-published ports of container ${id.slice(0, 12)} (iptables -t raw): ${x.stderr.trim() || `exit ${x.code}`}`);
  }

  /** Take the container's rules away (with its ports); a failure is logged. */
  remove(id: string): void {
    const rules = this.rules.get(id);
    if (!rules) return;
    this.rules.delete(id);
    void this.delete(rules).catch((e: unknown) => this.log.warn('removing the loopback guard of published ports', { id, err: errorMessage(e) }));
  }

  /** After a restart: the rules of containers of ours that no longer run go (those of running ones are kept: `add` finds them). */
  async sweep(isStale: (id: string) => boolean): Promise<void> {
    const x = await this.run('iptables -w -t raw -S PREROUTING');
    if (x.code !== 0) return; // no raw table: nothing was ever added
    const stale = x.stdout.split('\n').flatMap((line) => {
      const m = /--comment "?tsula-loopback ([0-9a-f]{64})"?/.exec(line);
      return m && isStale(m[1]!) ? [line.replace(/^-A /, '')] : [];
    });
    if (stale.length) await this.delete(stale.map((l) => [l]), true);
  }

  private run(script: string): Promise<ExecResult> {
    const p = this.queue.then(() => exec('sh', ['-c', script], { timeoutMs: TIMEOUT_MS }));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async delete(rules: string[][], raw = false): Promise<void> {
    const script = rules.map((r) => `iptables -w -t raw -D ${raw ? r[0] : r.map(shellQuote).join(' ')}`).join('\n');
    const x = await this.run(script);
    if (x.code !== 0) throw new Error(x.stderr.trim() || `exit ${x.code}`);
  }
}
