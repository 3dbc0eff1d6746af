// The host ports of the docker containers' published ports, held as dockerd holds them: one
// socket a binding, on the binding's host address, from before portmap's DNAT is installed
// until the container's network is released (its exit, stop, kill, rm, a failed start). A host
// program's bind() of a held port fails with EADDRINUSE, as against dockerd. The DNAT sends
// the port's traffic to the container before it can reach a socket; a TCP connection that
// still reaches one is reset at once (dockerd 29 drops its packets with a BPF filter, which
// node can't set). The sockets are unref'd: tsulad's exit leaves them to the kernel, and a new
// tsulad takes again the ports of the containers it finds running (dockerd re-binds at restore).
// CRI pods' hostPorts are not held here: containerd leaves them to portmap alone.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { errorMessage, internal } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { running, type Container } from '../containers/model.js';
import { LoopbackGuard } from './loopback-guard.js';
import type { NetworkRecord } from './model.js';
import { checkPortKey, PortAllocator, takenKeys, type BindHost, type HostSocket, type PortRanges, type ResolvedPorts, type TakenPorts } from './ports.js';

/**
 * dockerd's prefix for a start's networking errors (daemon/container_operations.go's
 * errSetupNetworking, in docker 28 and 29; 20.10 had none): tsulad serves API 1.52 as
 * dockerd 29, so its words, not 20.10's.
 */
export const SETUP_NETWORKING = 'failed to set up container networking';

/** Bind a published host port (TCP: listen, as dockerd, so a bind to a more specific address fails too). */
export const bindHostPort: BindHost = (proto, ip, port) => {
  if (proto === 'udp') {
    return new Promise((resolve, reject) => {
      // no SO_REUSEADDR, as dockerd 29's UDP sockets: no other socket can share the port
      // [::] holds the IPv6 addresses only, beside the 0.0.0.0 socket of the same binding
      const s = net.isIP(ip) === 6 ? dgram.createSocket({ type: 'udp6', reuseAddr: false, ipv6Only: true }) : dgram.createSocket({ type: 'udp4', reuseAddr: false });
      s.once('error', (e) => { s.close(); reject(e); });
      s.bind({ port, address: ip, exclusive: true }, () => {
        s.removeAllListeners('error');
        s.on('error', () => undefined);
        s.unref();
        resolve({ close: () => { try { s.close(); } catch { /* closed already */ } } });
      });
    });
  }
  if (proto === 'tcp') {
    return new Promise((resolve, reject) => {
      const srv = net.createServer((c) => c.resetAndDestroy());
      srv.once('error', reject);
      // ipv6Only: [::] holds the IPv6 addresses only, beside the 0.0.0.0 socket of the same binding
      srv.listen({ port, host: ip, exclusive: true, backlog: 1, ipv6Only: true }, () => {
        srv.removeAllListeners('error');
        srv.on('error', () => undefined);
        srv.unref();
        resolve({ close: () => srv.close() });
      });
    });
  }
  return Promise.resolve(null); // sctp: node has no SCTP sockets
};

export interface PublishedPortsDeps {
  containers: () => Container[];
  log: Logger;
  ranges?: PortRanges;
  /** The real binds by default (tests: fakes). */
  bind?: BindHost;
  /** The real iptables rules by default (tests: fakes). */
  guard?: LoopbackGuard;
}

/** Each docker container's published host ports: chosen, bound and held. */
export class PublishedPorts {
  private readonly allocator: PortAllocator;
  private readonly bind: BindHost;
  private readonly held = new Map<string, HostSocket[]>();
  private readonly guard: LoopbackGuard;

  constructor(private readonly d: PublishedPortsDeps) {
    this.allocator = new PortAllocator(d.ranges);
    this.bind = d.bind ?? bindHostPort;
    this.guard = d.guard ?? new LoopbackGuard(d.log);
  }

  /**
   * The container's published ports on `net` (its gateway's network): host ports chosen and
   * bound, held under its id until release(). Fails in dockerd 29's words, the endpoint named.
   */
  async publish(rec: Container, net: NetworkRecord, endpointId: string): Promise<ResolvedPorts> {
    try {
      const r = await this.allocator.resolve(rec.config.networking!, this.taken(rec.id), this.bind,
        net.options['com.docker.network.bridge.host_binding_ipv4'] || '0.0.0.0', !!net.ipv6);
      this.hold(rec.id, r.sockets);
      // loopback bindings guarded before portmap's DNAT exists (loopback-guard.ts)
      await this.guard.add(rec.id, r.bindings).catch((e: unknown) => { this.release(rec.id); throw e; });
      return r;
    } catch (e) {
      // libnetwork's programExternalConnectivity wraps the port mapper's error so
      throw internal(`${SETUP_NETWORKING}: driver failed programming external connectivity on endpoint ${rec.name} (${endpointId}): ${errorMessage(e)}`, e);
    }
  }

  /**
   * After a restart: bind again the host ports of a running container (its DNAT stayed while
   * tsulad was down). A port a host program took meanwhile stays with the DNAT, unreserved.
   */
  async retake(c: Container): Promise<void> {
    this.release(c.id);
    await this.guard.add(c.id, c.state.network?.ports ?? {})
      .catch((e: unknown) => this.d.log.warn('the loopback guard of a running container\'s published ports', { id: c.id, err: errorMessage(e) }));
    for (const [key, list] of Object.entries(c.state.network?.ports ?? {})) {
      const { proto } = checkPortKey(key);
      for (const b of list) {
        const ip = b.hostIp || '0.0.0.0';
        try {
          const s = await this.bind(proto, ip, Number(b.hostPort));
          if (s) this.hold(c.id, [s]);
        } catch (e) {
          this.d.log.warn('a published port of a running container could not be bound again (a host program took it while tsulad was down?): its DNAT stays, the port is not reserved',
            { id: c.id, port: `${ip}:${b.hostPort}/${proto}`, err: errorMessage(e) });
        }
      }
    }
  }

  /**
   * Close the container's sockets: its ports are free again (idempotent). The loopback guard
   * goes too unless `keepGuard`: its DNAT is still there (an exit's, before the DEL), and the
   * guard goes after it (unguard).
   */
  release(id: string, o: { keepGuard?: boolean } = {}): void {
    for (const s of this.held.get(id) ?? []) s.close();
    this.held.delete(id);
    if (!o.keepGuard) this.guard.remove(id);
  }

  /** The loopback guard goes, once the DNAT it covered did. */
  unguard(id: string): void {
    this.guard.remove(id);
  }

  /** After a restart: the loopback guards of containers of ours that stopped while tsulad was down go. */
  sweep(stale: (id: string) => boolean): Promise<void> {
    return this.guard.sweep(stale).catch((e: unknown) => this.d.log.warn('sweeping the loopback guards of stopped containers', { err: errorMessage(e) }));
  }

  /** How many sockets the container holds. */
  count(id: string): number {
    return this.held.get(id)?.length ?? 0;
  }

  private hold(id: string, sockets: HostSocket[]): void {
    if (sockets.length) this.held.set(id, [...(this.held.get(id) ?? []), ...sockets]);
  }

  /** The host ports the other running containers have. */
  private taken(self: string): TakenPorts {
    const out: TakenPorts = new Set();
    for (const c of this.d.containers()) {
      if (c.id !== self && running(c.state) && c.state.network) for (const k of takenKeys(c.state.network.ports)) out.add(k);
    }
    return out;
  }
}
