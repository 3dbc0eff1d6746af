// A user network's DNS server (src/engine/networks/dns.ts), its answers built from a fake
// engine: wire format (RFC 1035 header, question, answers), who is refused, what is forwarded;
// and the resolv.conf that names it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkDns, buildReply, parseQuestion, reverseName, type DnsBackend } from '../../src/engine/networks/dns.js';
import { hostsFile, type DnsInput } from '../../src/engine/networks/etc.js';
import { containerResolvConf } from '../../src/engine/networks/resolvconf.js';

const embeddedResolvConf = (host: string, d: DnsInput, server: string) =>
  containerResolvConf(host, d, { kind: 'internal', server }).split('\n').filter((l) => l && !l.startsWith('#')).join('\n') + '\n';
import { Logger } from '../../src/common/log.js';
import { linkTarget, parseLink } from '../../src/engine/networks/links.js';
import type { Container } from '../../src/engine/containers/model.js';

/** A query as a stub resolver sends it: id, RD, one question. */
function query(name: string, type: number, id = 0x1234): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const head = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([head, ...labels, Buffer.from([0]), tail]);
}

function parseReply(r: Buffer): { id: number; rcode: number; aa: boolean; rd: boolean; answers: Buffer[] } {
  const q = parseQuestion(Buffer.concat([r.subarray(0, 2), Buffer.from([0x01]), r.subarray(3)]))!; // read it as a query
  const answers: Buffer[] = [];
  let i = q.end;
  for (let n = r.readUInt16BE(6); n > 0; n--) {
    assert.equal(r.readUInt16BE(i), 0xc00c, 'the answer names the question');
    const len = r.readUInt16BE(i + 10);
    answers.push(r.subarray(i + 12, i + 12 + len));
    i += 12 + len;
  }
  assert.equal(i, r.length);
  return { id: r.readUInt16BE(0), rcode: r[3]! & 0x0f, aa: (r[2]! & 0x04) !== 0, rd: (r[2]! & 0x01) !== 0, answers };
}

const backend: DnsBackend = {
  lookup: (_net, name) => (name === 'web' || name === 'www' ? ['10.9.0.2', '10.9.0.3'] : []),
  reverse: (_net, ip) => (ip === '10.9.0.2' ? 'web.appnet' : null),
  isClient: (_net, client) => client === '10.9.0.7' || client === '10.9.0.8',
  upstreams: async () => [],
  ndotsSet: (_net, client) => client === '10.9.0.8',
};
const dns = new NetworkDns(backend, new Logger('error'));

test('a query parses; responses, short packets and bad labels do not', () => {
  const q = parseQuestion(query('Web.AppNet', 1))!;
  assert.deepEqual({ name: q.name, type: q.type, cls: q.cls }, { name: 'web.appnet', type: 1, cls: 1 });
  const asReply = query('web', 1);
  asReply[2] = 0x81;
  assert.equal(parseQuestion(asReply), null);
  assert.equal(parseQuestion(Buffer.alloc(5)), null);
  assert.equal(parseQuestion(query('web', 1).subarray(0, 16)), null);
});

test('A: every address of the name, authoritative, id and RD kept', async () => {
  const r = parseReply((await dns.answer('n', query('www', 1, 0xbeef), '10.9.0.7'))!);
  assert.equal(r.id, 0xbeef);
  assert.equal(r.rcode, 0);
  assert.ok(r.aa && r.rd);
  assert.deepEqual(r.answers.map((a) => [...a].join('.')).sort(), ['10.9.0.2', '10.9.0.3']);
  // in a new order each time (dockerd's shuffleAddr): both orders come up
  const firsts = new Set<string>();
  for (let i = 0; i < 64; i++) firsts.add([...parseReply((await dns.answer('n', query('www', 1), '10.9.0.7'))!).answers[0]!].join('.'));
  assert.deepEqual([...firsts].sort(), ['10.9.0.2', '10.9.0.3']);
});

test('a single-label name unknown here, from a client with its own ndots: an empty answer, not sent out (dockerd\'s ServeDNS)', async () => {
  const own = parseReply((await dns.answer('n', query('nosuch', 1), '10.9.0.8'))!);
  assert.deepEqual([own.rcode, own.answers.length], [0, 0]);
  // a dotted name still goes out (no server here: SERVFAIL), and so does one from a client without ndots
  assert.equal(parseReply((await dns.answer('n', query('no.such', 1), '10.9.0.8'))!).rcode, 2);
  assert.equal(parseReply((await dns.answer('n', query('nosuch', 1), '10.9.0.7'))!).rcode, 2);
});

test('AAAA of a container: no error, no record (IPv4 only), so resolvers do not look further', async () => {
  const r = parseReply((await dns.answer('n', query('web', 28), '10.9.0.7'))!);
  assert.equal(r.rcode, 0);
  assert.equal(r.answers.length, 0);
});

test('PTR of a container address: its name on the network', async () => {
  assert.equal(reverseName('2.0.9.10.in-addr.arpa'), '10.9.0.2');
  assert.equal(reverseName('2.0.9.300.in-addr.arpa'), null);
  const r = parseReply((await dns.answer('n', query('2.0.9.10.in-addr.arpa', 12), '10.9.0.7'))!);
  assert.equal(r.answers.length, 1);
  assert.deepEqual(parseQuestion(Buffer.concat([Buffer.alloc(4), Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]), r.answers[0]!, Buffer.alloc(4)]))?.name, 'web.appnet');
});

test('a client that is no container of the network is refused; other names with no server to ask fail', async () => {
  assert.equal(parseReply((await dns.answer('n', query('web', 1), '192.0.2.1'))!).rcode, 5);
  assert.equal(parseReply((await dns.answer('n', query('example.org', 1), '10.9.0.7'))!).rcode, 2);
  assert.equal(await dns.answer('n', Buffer.from('junk'), '10.9.0.7'), null);
});

test('buildReply echoes the question and counts its answers', () => {
  const q = query('web', 1);
  const r = buildReply(q, parseQuestion(q)!, 3, []);
  assert.equal(r.readUInt16BE(4), 1);
  assert.equal(r.readUInt16BE(6), 0);
  assert.equal(r[3]! & 0x0f, 3);
  assert.deepEqual(r.subarray(12), q.subarray(12));
});

test('resolv.conf on a user network: its server only, the host search list, ndots:0 unless given', () => {
  const host = 'nameserver 10.0.0.53\nsearch corp.example\noptions edns0\n';
  assert.equal(embeddedResolvConf(host, { dns: ['192.0.2.53'], dnsSearch: [], dnsOptions: [] }, '10.9.0.1'),
    'nameserver 10.9.0.1\nsearch corp.example\noptions edns0 ndots:0\n');
  assert.equal(embeddedResolvConf(host, { dns: [], dnsSearch: ['a.test'], dnsOptions: ['ndots:2'] }, '10.9.0.1'),
    'nameserver 10.9.0.1\nsearch a.test\noptions ndots:2\n');
});

test('127.0.0.11 in a container\'s namespace: our two nat chains declared (made or emptied), jumps only in a fresh namespace, UDP and TCP to the gateway, masqueraded', async () => {
  const { redirectRules } = await import('../../src/engine/networks/dns-redirect.js');
  const fresh = redirectRules('10.9.0.1', true).split('\n');
  assert.deepEqual(fresh.slice(0, 5), ['*nat', ':TSULA-DNS-OUTPUT - [0:0]', ':TSULA-DNS-POSTROUTING - [0:0]', '-A OUTPUT -d 127.0.0.11/32 -j TSULA-DNS-OUTPUT', '-A POSTROUTING -j TSULA-DNS-POSTROUTING']);
  assert.ok(fresh.includes('-A TSULA-DNS-OUTPUT -d 127.0.0.11/32 -p tcp --dport 53 -j DNAT --to-destination 10.9.0.1:53'));
  assert.ok(fresh.includes('-A TSULA-DNS-POSTROUTING -s 127.0.0.0/8 -d 10.9.0.1/32 -p udp --dport 53 -j MASQUERADE'));
  assert.equal(fresh.at(-2), 'COMMIT');
  // retargeted to no server: the chains emptied, no jump added twice
  assert.equal(redirectRules(null, false), '*nat\n:TSULA-DNS-OUTPUT - [0:0]\n:TSULA-DNS-POSTROUTING - [0:0]\nCOMMIT\n');
});

test('links: dockerd\'s ParseLink (name:alias, name, /name:/parent/alias; its errors); a link alias is the linking container\'s, per network', () => {
  assert.deepEqual(parseLink('db_1:db'), ['db_1', 'db']);
  assert.deepEqual(parseLink('db_1'), ['db_1', 'db_1']);
  assert.deepEqual(parseLink('/db_1:/web/db'), ['db_1', 'db']);
  assert.throws(() => parseLink('a:b:c'), /bad format for links: a:b:c/);
  assert.throws(() => parseLink(''), /empty string specified for links/);
  const c = { config: { networking: { endpoints: [
    { networkId: 'n1', name: 'Back', aliases: [], links: ['P1_DB_1:Database', 'bad:link:x'] },
    { networkId: 'n2', name: 'front', aliases: [] },
  ] } } } as unknown as Container;
  assert.equal(linkTarget(c, 'n1', 'database'), 'p1_db_1');
  assert.equal(linkTarget(c, 'n1', 'database.back'), 'p1_db_1');
  assert.equal(linkTarget(c, 'n1', 'database.front'), undefined);
  assert.equal(linkTarget(c, 'n2', 'database'), undefined, 'on its own network only');
  assert.equal(linkTarget(c, 'n1', 'bad'), undefined);
});

test('/etc/hosts: libnetwork\'s defaults in dockerd 27+\'s spelling (moby\'s TestEtcHostsDisconnect goldens); none of the IPv6 ones where the container turned IPv6 off (moby#35954)', () => {
  const h = { hostname: 'c1', domainname: 'invalid', ips: ['192.168.123.2'], extra: ['192.0.2.3\totherhost.invalid'], peers: [] };
  assert.equal(hostsFile(h), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n192.0.2.3\totherhost.invalid\n192.168.123.2\tc1.invalid c1\n');
  assert.equal(hostsFile({ ...h, noIpv6: true }), '127.0.0.1\tlocalhost\n192.0.2.3\totherhost.invalid\n192.168.123.2\tc1.invalid c1\n');
});
