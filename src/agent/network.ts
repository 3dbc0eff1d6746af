// The guest side of ConfigureNetwork (protocol.ts): give the guest's virtio NICs the pod's
// interface config with `ip` commands (kata's agent does the same over netlink). They go to
// `tsula-boot ip-batch` (scripts/guest/ip-batch.c), which applies them over rtnetlink in one
// process: under TCG each process node spawns costs ~130 ms and each busybox `ip` another
// 20-30 ms (7 spawns took ~0.9 s of a pod's start, one shell script of `ip` calls ~0.3 s).
// The NIC is found by its MAC, which the host put on QEMU's command line: the guest kernel
// names NICs in probe order, the host's name (eth0) is applied here. A template's guest
// starts that process ahead, waiting on its stdin (as clone.ts does with its program): a
// clone's first ConfigureNetwork only feeds it the commands.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { internal, invalidArgument, unavailable } from '../common/errors.js';
import type { ConfigureNetworkRequest, GuestInterface, GuestRoute } from './protocol.js';
import { feed, StartedAhead } from './waiting.js';

/** A NIC as the guest has it (/sys/class/net). */
export interface PresentLink { name: string; mac: string }

const NAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const V4 = /^(\d{1,3}\.){3}\d{1,3}$/;
const V6 = /^[0-9a-f:]*:[0-9a-f:.]*$/i;
const isIp = (s: string, fam: 4 | 6) => (fam === 4 ? V4 : V6).test(s);
const isCidr = (s: string, fam: 4 | 6) => {
  const [ip = '', len = '', ...rest] = s.split('/');
  return !rest.length && isIp(ip, fam) && /^\d{1,3}$/.test(len) && Number(len) <= (fam === 4 ? 32 : 128);
};
const familyOf = (cidr: string): 4 | 6 => (cidr.includes(':') ? 6 : 4);

/** Everything the host sent, checked before any of it becomes an argument of `ip`. */
export function checkRequest(r: ConfigureNetworkRequest): void {
  if (!Array.isArray(r.interfaces) || !Array.isArray(r.routes)) throw invalidArgument('ConfigureNetwork: interfaces and routes must be lists');
  const names = new Set<string>();
  for (const i of r.interfaces) {
    if (!NAME_RE.test(i.name)) throw invalidArgument(`ConfigureNetwork: bad interface name ${JSON.stringify(i.name)}`);
    if (!MAC_RE.test(String(i.mac).toLowerCase())) throw invalidArgument(`ConfigureNetwork: ${i.name}: bad MAC ${JSON.stringify(i.mac)}`);
    if (!Number.isInteger(i.mtu) || i.mtu < 68 || i.mtu > 65535) throw invalidArgument(`ConfigureNetwork: ${i.name}: bad MTU ${i.mtu}`);
    for (const a of i.addresses) if (!isCidr(a, familyOf(a))) throw invalidArgument(`ConfigureNetwork: ${i.name}: bad address ${JSON.stringify(a)}`);
    names.add(i.name);
  }
  for (const rt of r.routes) {
    if (rt.family !== 4 && rt.family !== 6) throw invalidArgument(`ConfigureNetwork: route ${rt.dst}: bad family`);
    if (rt.dst !== 'default' && !isCidr(rt.dst, rt.family)) throw invalidArgument(`ConfigureNetwork: bad route destination ${JSON.stringify(rt.dst)}`);
    if (rt.gateway !== undefined && !isIp(rt.gateway, rt.family)) throw invalidArgument(`ConfigureNetwork: route ${rt.dst}: bad gateway ${JSON.stringify(rt.gateway)}`);
    if (!names.has(rt.dev)) throw invalidArgument(`ConfigureNetwork: route ${rt.dst}: unknown device ${JSON.stringify(rt.dev)}`);
  }
}

function interfaceCommands(i: GuestInterface, cur: PresentLink): string[][] {
  const out: string[][] = [];
  // a NIC is renamed only while down
  if (cur.name !== i.name) out.push(['link', 'set', 'dev', cur.name, 'down'], ['link', 'set', 'dev', cur.name, 'name', i.name]);
  out.push(['link', 'set', 'dev', i.name, 'mtu', String(i.mtu)]);
  for (const a of i.addresses) out.push([...(familyOf(a) === 6 ? ['-6'] : []), 'addr', 'add', a, 'dev', i.name]);
  out.push(['link', 'set', 'dev', i.name, 'up']);
  return out;
}

const routeCommand = (r: GuestRoute): string[] =>
  [`-${r.family}`, 'route', 'replace', r.dst, ...(r.gateway ? ['via', r.gateway] : []), 'dev', r.dev];

/**
 * The `ip` argument lists that apply the request to the NICs present: interfaces first, then
 * routes, those without a gateway first (a gateway must be reachable when its route goes in).
 */
export function networkCommands(req: ConfigureNetworkRequest, present: PresentLink[]): string[][] {
  checkRequest(req);
  const cmds: string[][] = [];
  for (const i of req.interfaces) {
    const cur = present.find((p) => p.mac === i.mac.toLowerCase());
    if (!cur) throw unavailable(`ConfigureNetwork: the guest has no NIC with MAC ${i.mac} (has: ${present.map((p) => `${p.name} ${p.mac}`).join(', ') || 'none'})`);
    cmds.push(...interfaceCommands(i, cur));
  }
  const routes = [...req.routes].sort((a, b) => Number(!!a.gateway) - Number(!!b.gateway));
  for (const r of routes) cmds.push(routeCommand(r));
  return cmds;
}

/** The guest's NICs (not lo) and their MACs (read in place: tiny sysfs files, and each trip through the thread pool costs a cold guest). */
export async function presentLinks(sysNet = '/sys/class/net'): Promise<PresentLink[]> {
  const out: PresentLink[] = [];
  let names: string[] = [];
  try { names = readdirSync(sysNet); } catch { /* none */ }
  for (const name of names) {
    if (name === 'lo') continue;
    let mac = '';
    try { mac = readFileSync(`${sysNet}/${name}/address`, 'utf8').trim().toLowerCase(); } catch { /* gone meanwhile */ }
    if (mac) out.push({ name, mac });
  }
  return out;
}

/**
 * The commands as `tsula-boot ip-batch` reads them: one per line. It stops at the first
 * failure and says which; an address already there (an earlier call) is the same state, not
 * an error. Arguments were checked (checkRequest): letters, digits and `:./_-` only.
 */
export function networkBatch(cmds: string[][]): string {
  return cmds.map((c) => c.join(' ')).join('\n') + '\n';
}

export interface ApplyOptions {
  /** How long to wait for the NICs to appear (virtio_net probes while /init goes on). */
  waitMs?: number;
  /** Applies the commands (networkBatch); default: tsula-boot ip-batch, bounded. Its exit code and stderr. */
  apply?: (batch: string) => Promise<{ code: number; stderr: string }>;
  links?: () => Promise<PresentLink[]>;
  /** Writes a sysctl file (default: the guest's /proc/sys; best effort). */
  sysctl?: (file: string, value: string) => void;
}

/**
 * An IPv6 address the host's IPAM handed out is the guest's alone: no duplicate address
 * detection on a NIC that gets one, which would keep it "tentative", unusable, for the
 * guest's first second (busybox's ip has no nodad).
 */
function noDad(req: ConfigureNetworkRequest, present: PresentLink[], write: (file: string, value: string) => void): void {
  for (const i of req.interfaces) {
    const cur = present.find((p) => p.mac === i.mac.toLowerCase());
    if (cur && i.addresses.some((a) => familyOf(a) === 6)) write(`/proc/sys/net/ipv6/conf/${cur.name}/accept_dad`, '0');
  }
}

const writeSysctl = (file: string, value: string): void => {
  try { writeFileSync(file, value); } catch { /* no IPv6 in this guest kernel: nothing to detect */ }
};

/** Apply the request in the guest; a second call with the same request changes nothing. */
export async function configureNetwork(req: ConfigureNetworkRequest, o: ApplyOptions = {}): Promise<void> {
  checkRequest(req);
  // the template builder's rehearsal (see clone.ts): the path runs for NICs the template has
  // not, as if present under stand-in names (whose sysctl files do not exist: nothing is
  // written), the applier is fed no command, and another then waits for the clones
  const standIns: PresentLink[] = req.rehearse ? req.interfaces.map((i, n) => ({ name: `rehearsal${n}`, mac: i.mac.toLowerCase() })) : [];
  const links = o.links ?? (async () => [...await presentLinks(), ...standIns]);
  const apply = o.apply ?? runBatch;
  const want = req.interfaces.map((i) => i.mac.toLowerCase());
  const deadline = Date.now() + (o.waitMs ?? 5000);
  let present = await links();
  // a renamed NIC keeps its MAC: the wait is for the MAC, not for a name
  while (!want.every((m) => present.some((p) => p.mac === m)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    present = await links();
  }
  const cmds = networkCommands(req, present);
  noDad(req, present, o.sysctl ?? writeSysctl);
  const batch = networkBatch(cmds);
  const r = await apply(req.rehearse ? '' : batch);
  if (r.code !== 0) throw internal(`ConfigureNetwork: ${r.stderr || `${IP_BATCH.join(' ')} exited ${r.code}`}`);
  if (req.rehearse && apply === runBatch) prespawnNetworkApplier(); // the one it took
}

const BATCH_TIMEOUT_MS = 20_000;
const IP_BATCH = ['/bin/tsula-boot', 'ip-batch'];

const applier = new StartedAhead(IP_BATCH[0]!, IP_BATCH.slice(1));

/** A template's guest: start the process for its clones' first ConfigureNetwork now. */
export function prespawnNetworkApplier(): void {
  applier.start();
}

/** A clone that gets no NIC: the process started for its ConfigureNetwork exits. */
export function releaseNetworkApplier(): void {
  applier.release();
}

/** Feed the commands to the waiting process, else to a new one: its exit code and stderr. */
async function runBatch(batch: string): Promise<{ code: number; stderr: string }> {
  const o = await feed(applier.take(), batch, BATCH_TIMEOUT_MS);
  const stderr = o.stderr.toString('utf8').trim();
  if (o.error) return { code: 127, stderr: `cannot run ${IP_BATCH.join(' ')}: ${o.error.message}` };
  if (o.timedOut) return { code: 137, stderr: `${stderr}${stderr ? '; ' : ''}${IP_BATCH.join(' ')} ran longer than ${BATCH_TIMEOUT_MS} ms: killed` };
  return { code: o.code ?? 128, stderr };
}
