// docker's embedded DNS address, 127.0.0.11, inside a container on a user network. dockerd
// listens there from inside each container's namespace; tsulad's server (dns.ts) listens on
// the network's gateway on the host, so the container's namespace sends what goes to
// 127.0.0.11:53 there: a DNAT in its nat OUTPUT chain, then a MASQUERADE to its own address
// on the way out (a packet from 127.0.0.1 may not leave lo otherwise: route_localnet lets it
// be routed, the source rewrite makes it an ordinary client of the server, which answers
// only the network's containers). Apps that name the resolver (nginx's `resolver
// 127.0.0.11`) find it where docker puts it. A container in a VM has its own kernel: its
// resolv.conf names the gateway instead.
import { internal } from '../../common/errors.js';
import { exec } from '../../common/exec.js';

export const EMBEDDED_DNS = '127.0.0.11';

const OUT = 'TSULA-DNS-OUTPUT';
const POST = 'TSULA-DNS-POSTROUTING';
const TIMEOUT_MS = 10_000;

/** The nat rules: our two chains (declared: made, or emptied when they exist), filled for `gateway`. */
export function redirectRules(gateway: string | null, jumps: boolean): string {
  const lines = ['*nat', `:${OUT} - [0:0]`, `:${POST} - [0:0]`];
  if (jumps) lines.push(`-A OUTPUT -d ${EMBEDDED_DNS}/32 -j ${OUT}`, `-A POSTROUTING -j ${POST}`);
  if (gateway) {
    for (const p of ['udp', 'tcp']) {
      lines.push(`-A ${OUT} -d ${EMBEDDED_DNS}/32 -p ${p} --dport 53 -j DNAT --to-destination ${gateway}:53`);
      lines.push(`-A ${POST} -s 127.0.0.0/8 -d ${gateway}/32 -p ${p} --dport 53 -j MASQUERADE`);
    }
  }
  return [...lines, 'COMMIT', ''].join('\n');
}

/**
 * Point 127.0.0.11:53 in the namespace at `gateway`'s DNS server (null: at nothing). `fresh`:
 * a namespace made for this start, which has no jumps to our chains yet (one exec less).
 */
export async function redirectDns(netns: string, gateway: string | null, fresh: boolean): Promise<void> {
  const jump = (chain: string, spec: string) => `iptables -t nat -C ${chain} ${spec} 2>/dev/null || iptables -t nat -A ${chain} ${spec}`;
  const script = [
    'set -e',
    'echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet',
    'iptables-restore --noflush',
    ...(fresh ? [] : [jump('OUTPUT', `-d ${EMBEDDED_DNS}/32 -j ${OUT}`), jump('POSTROUTING', `-j ${POST}`)]),
  ].join('\n');
  const r = await exec('nsenter', [`--net=${netns}`, 'sh', '-c', script], { input: redirectRules(gateway, fresh), timeoutMs: TIMEOUT_MS });
  if (r.code !== 0) throw internal(`pointing ${EMBEDDED_DNS} at the network's DNS server in ${netns}: ${r.stderr.trim() || `exit ${r.code}`}`);
}
