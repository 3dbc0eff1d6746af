// The DNS server of user networks (docker's embedded DNS, as podman's aardvark-dns runs it):
// one UDP socket per user network with running containers, bound to its gateway address on
// the host, which is the nameserver of their resolv.conf. It answers A and PTR queries for
// the network's running containers (name, network aliases, short id; also "<name>.<network>")
// and forwards every other query, unchanged, to the client container's --dns servers or the
// host's (loopback ones included: we run on the host), over the transport it came by (TCP is
// served too, for the retry of a truncated answer). A client that is not a container on that
// network is refused.
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, isIPv4, type Server, type Socket } from 'node:net';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import { ip6Bytes } from './ipv6.js';

const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const TTL = 600; // dockerd's
const RCODE_SERVFAIL = 2;
const RCODE_REFUSED = 5;
const FORWARD_TIMEOUT_MS = 2000;

export interface DnsQuestion { name: string; type: number; cls: number; end: number }

/** The first question of a query (names in queries are never compressed), or null. */
export function parseQuestion(msg: Buffer): DnsQuestion | null {
  if (msg.length < 12 || (msg[2]! & 0x80) !== 0 || msg.readUInt16BE(4) < 1) return null; // a response, or no question
  const labels: string[] = [];
  let i = 12;
  for (;;) {
    const len = msg[i];
    if (len === undefined || len > 63) return null;
    i++;
    if (len === 0) break;
    if (i + len > msg.length) return null;
    labels.push(msg.toString('latin1', i, i + len));
    i += len;
  }
  if (i + 4 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i), cls: msg.readUInt16BE(i + 2), end: i + 4 };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean).map((l) => Buffer.from(l, 'latin1'));
  return Buffer.concat([...parts.flatMap((p) => [Buffer.from([p.length]), p]), Buffer.from([0])]);
}

/** An answer to `query` (its id, RD bit and question echoed): rcode and records of the question's type. */
export function buildReply(query: Buffer, q: DnsQuestion, rcode: number, rdatas: Buffer[]): Buffer {
  const head = Buffer.alloc(12);
  query.copy(head, 0, 0, 2); // id
  head[2] = 0x84 | (query[2]! & 0x01); // QR, AA, RD as asked
  head[3] = 0x80 | rcode; // RA
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(rdatas.length, 6);
  const answers = rdatas.map((rd) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(q.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(rd.length, 10);
    return Buffer.concat([rr, rd]);
  });
  return Buffer.concat([head, query.subarray(12, q.end), ...answers]);
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4", or null. */
export function reverseName(name: string): string | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(name);
  if (!m) return null;
  const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
  return isIPv4(ip) ? ip : null;
}

/** What the server needs of the engine, per network. */
export interface DnsBackend {
  /**
   * Addresses that answer to `name` for the client at clientIp: the network's running
   * containers, then those of the client's other user networks (dockerd's resolver is the
   * client's, across all its networks); with a family, only its addresses, from the first
   * network that has some.
   */
  lookup(networkId: string, name: string, clientIp: string, family?: 4 | 6): string[];
  /** The name of the network's running container at `ip` ("<name>.<network>"), or null. */
  reverse(networkId: string, ip: string): string | null;
  /** Is clientIp a container on the network (anyone else is refused)? */
  isClient(networkId: string, clientIp: string): boolean;
  /** The servers to forward a client's other queries to (asked only for those). */
  upstreams(networkId: string, clientIp: string): Promise<string[]>;
  /** Did the client's container set an ndots option of its own (--dns-option ndots:N)? */
  ndotsSet(networkId: string, clientIp: string): boolean;
}

interface Served { socket: UdpSocket; tcp: Server | null; conns: Set<Socket> }
type Transport = 'udp' | 'tcp';
const TCP_IDLE_MS = 10_000;

/** DNS over TCP frames each message with its length (RFC 1035 4.2.2). */
function framed(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length, 0);
  return Buffer.concat([len, msg]);
}

/** Calls `each` with every whole message of a TCP DNS stream. */
function onMessages(c: Socket, each: (msg: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  c.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      each(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
  });
}

export class NetworkDns {
  private readonly served = new Map<string, Promise<Served | null>>();

  constructor(private readonly backend: DnsBackend, private readonly log: Logger) {}

  /** Serve `networkId` on its gateway address (once; a failure is logged and retried next time). */
  async ensure(networkId: string, gateway: string): Promise<boolean> {
    let s = this.served.get(networkId);
    if (!s) {
      s = this.listen(networkId, gateway);
      this.served.set(networkId, s);
    }
    const served = await s;
    if (!served) this.served.delete(networkId);
    return !!served;
  }

  /** Stop serving a network. */
  async close(networkId: string): Promise<void> {
    const s = this.served.get(networkId);
    this.served.delete(networkId);
    const served = await s;
    if (!served) return;
    served.socket.close();
    served.tcp?.close();
    for (const c of served.conns) c.destroy();
  }

  private async listen(networkId: string, address: string): Promise<Served | null> {
    const { createSocket } = await import('node:dgram');
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(53, address, () => { socket.off('error', reject); resolve(); });
      });
    } catch (e) {
      socket.close();
      this.log.warn('cannot serve DNS on a user network: its containers resolve each other through /etc/hosts only', { network: networkId, address, err: errorMessage(e) });
      return null;
    }
    socket.unref();
    socket.on('error', (e) => this.log.warn('network DNS', { network: networkId, err: errorMessage(e) }));
    socket.on('message', (msg, from) => {
      void this.answer(networkId, msg, from.address, 'udp').then((reply) => {
        if (reply) socket.send(reply, from.port, from.address);
      }).catch((e) => this.log.debug('network DNS query', { network: networkId, err: errorMessage(e) }));
    });
    const conns = new Set<Socket>();
    const tcp = await this.listenTcp(networkId, address, conns);
    return { socket, tcp, conns };
  }

  /** The same on TCP; without it (the port is taken) UDP still serves. */
  private async listenTcp(networkId: string, address: string, conns: Set<Socket>): Promise<Server | null> {
    // half-open: a client may send its queries and shut its side before the answers come
    const server = createServer({ allowHalfOpen: true }, (c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.on('error', () => c.destroy());
      c.setTimeout(TCP_IDLE_MS, () => c.destroy());
      let pending = 0;
      let ended = false;
      c.on('end', () => { ended = true; if (!pending) c.end(); });
      onMessages(c, (msg) => {
        pending++;
        void this.answer(networkId, Buffer.from(msg), c.remoteAddress ?? '', 'tcp').then((reply) => {
          if (reply && !c.destroyed) c.write(framed(reply));
        }).catch((e) => this.log.debug('network DNS query', { network: networkId, err: errorMessage(e) })).finally(() => {
          if (--pending === 0 && ended) c.end();
        });
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: address, port: 53 }, () => { server.off('error', reject); resolve(); });
      });
    } catch (e) {
      this.log.warn('cannot serve DNS over TCP on a user network (UDP only)', { network: networkId, address, err: errorMessage(e) });
      return null;
    }
    server.unref();
    return server;
  }

  /** The reply to one query from clientIp (null: none, as for a malformed packet). */
  async answer(networkId: string, msg: Buffer, clientIp: string, via: Transport = 'udp'): Promise<Buffer | null> {
    const q = parseQuestion(msg);
    if (!q) return null;
    if (!this.backend.isClient(networkId, clientIp)) return buildReply(msg, q, RCODE_REFUSED, []);
    if (q.cls === CLASS_IN) {
      const ip = q.type === TYPE_PTR ? reverseName(q.name) : null;
      const named = ip ? this.backend.reverse(networkId, ip) : null;
      if (named) return buildReply(msg, q, 0, [encodeName(named)]);
      // several containers of one alias: in a new order each time (dockerd's shuffleAddr), so
      // clients that take the first spread over them
      const family = q.type === TYPE_A ? 4 : q.type === TYPE_AAAA ? 6 : undefined;
      let ips = shuffled(ip ? [] : this.backend.lookup(networkId, q.name, clientIp, family));
      // a name known with addresses of the other family only: ips of it, for the empty answer below
      if (!ips.length && !ip && family) ips = this.backend.lookup(networkId, q.name, clientIp);
      // a container's name: its IPv4 addresses for A, IPv6 ones for AAAA, no record of other
      // types (an empty answer: the name is there, as dockerd's ipv6Miss)
      if (ips.length) {
        const rdata = q.type === TYPE_A ? ips.filter((a) => !a.includes(':')).map((a) => Buffer.from(a.split('.').map(Number)))
          : q.type === TYPE_AAAA ? ips.filter((a) => a.includes(':')).map(ip6Bytes) : [];
        return buildReply(msg, q, 0, rdata);
      }
      // a single-label name with the client's own ndots is not sent out: an empty answer, and
      // the client goes on with its search domains (dockerd's ServeDNS)
      if ((q.type === TYPE_A || q.type === TYPE_AAAA) && !q.name.replace(/\.$/, '').includes('.') && this.backend.ndotsSet(networkId, clientIp)) {
        return buildReply(msg, q, 0, []);
      }
    }
    const upstreams = await this.backend.upstreams(networkId, clientIp);
    if (!upstreams.length) return buildReply(msg, q, RCODE_SERVFAIL, []);
    return (await forward(msg, upstreams, via)) ?? buildReply(msg, q, RCODE_SERVFAIL, []);
  }
}

function shuffled<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Ask each server in turn, the query as it came and by the same transport; the first answer, or null. */
async function forward(msg: Buffer, servers: string[], via: Transport): Promise<Buffer | null> {
  const { createSocket } = await import('node:dgram');
  for (const server of servers) {
    if (via === 'tcp') {
      const reply = await forwardTcp(msg, server);
      if (reply) return reply;
      continue;
    }
    const family = isIPv4(server) ? 'udp4' : 'udp6';
    const s = createSocket(family);
    try {
      // connected, as libnetwork's resolver dials: a server that is not there (ICMP port
      // unreachable: ECONNREFUSED) is given up at once, not after the timeout, so a client
      // gets its SERVFAIL before its own timeout (busybox's 5 s; moby's TestIntDNSAsExtDNS)
      const reply = await new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), FORWARD_TIMEOUT_MS);
        s.once('error', () => { clearTimeout(timer); resolve(null); });
        s.on('message', (m) => {
          if (m.length >= 2 && m[0] === msg[0] && m[1] === msg[1]) { clearTimeout(timer); resolve(m); }
        });
        s.connect(53, server, () => s.send(msg));
      });
      if (reply) return reply;
    } finally {
      s.close();
    }
  }
  return null;
}

function forwardTcp(msg: Buffer, server: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const c = connect({ host: server, port: 53 });
    const done = (reply: Buffer | null) => { clearTimeout(timer); c.destroy(); resolve(reply); };
    const timer = setTimeout(() => done(null), FORWARD_TIMEOUT_MS);
    c.on('error', () => done(null));
    c.on('close', () => done(null));
    onMessages(c, (reply) => done(Buffer.from(reply)));
    c.write(framed(msg));
  });
}
