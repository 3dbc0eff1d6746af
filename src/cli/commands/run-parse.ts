// docker's parsers of run's -p, --expose, --mount and --device (cli/opts and go-connections'
// nat), with docker's error messages.
import { isIP } from 'node:net';
import { UsageError } from '../args.js';
import { ramInBytes } from '../units.js';

/** "80" or "8000-8010" (nat.ParsePortRange). */
export function portRange(s: string, what: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  const lo = Number(m?.[1]);
  const hi = m?.[2] ? Number(m[2]) : lo;
  if (!m || lo > 65535 || hi > 65535 || hi < lo) throw new UsageError(`invalid ${what}: ${s}`, 'run');
  return [lo, hi];
}

/** --expose 80[/udp] or a range: each port into `exposed`. */
export function parseExpose(e: string, exposed: Record<string, object>): void {
  const [port = '', proto = 'tcp'] = e.split('/');
  const [lo, hi] = portRange(port, 'range format for --expose');
  for (let i = lo; i <= hi; i++) exposed[`${i}/${proto}`] = {};
}

/** -p [ip:][hostPort:]containerPort[/proto], with docker's ranges (nat.ParsePortSpec). */
export function parsePorts(specs: string[], exposed: Record<string, object>): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const spec of specs) {
    const parts = spec.split(':');
    const n = parts.length;
    const hostPort = n >= 2 ? parts[n - 2]! : '';
    const hostIp = (n >= 3 ? parts.slice(0, n - 2).join(':') : '').replace(/^\[|\]$/g, '');
    const [ctr, proto = 'tcp'] = parts[n - 1]!.split('/');
    if (!ctr) throw new UsageError(`no port specified: ${spec}<empty>`, 'run');
    if (hostIp && !isIP(hostIp)) throw new UsageError(`invalid IP address: ${hostIp}`, 'run');
    const [start, end] = portRange(ctr, 'containerPort');
    const [hstart, hend] = hostPort ? portRange(hostPort, 'hostPort') : [0, 0];
    if (hostPort && end - start !== hend - hstart && end !== start) {
      throw new UsageError(`invalid ranges specified for container and host Ports: ${ctr} and ${hostPort}`, 'run');
    }
    if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) throw new UsageError(`invalid proto: ${proto}`, 'run');
    for (let i = 0; i <= end - start; i++) {
      // a single container port with a host range: the daemon picks a free port of it
      const hp = !hostPort ? '' : start === end && hstart !== hend ? `${hstart}-${hend}` : String(hstart + i);
      const key = `${start + i}/${proto.toLowerCase()}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hp });
    }
  }
  return bindings;
}

const MOUNT_KEYS = new Set(['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'consistency', 'bind-propagation',
  'bind-nonrecursive', 'volume-nocopy', 'volume-label', 'volume-driver', 'volume-opt', 'tmpfs-size', 'tmpfs-mode']);
const FLAG_KEYS = ['readonly', 'ro', 'volume-nocopy', 'bind-nonrecursive'];

function pair(v: string): [string, string] {
  const i = v.indexOf('=');
  return i < 0 ? [v, ''] : [v.slice(0, i), v.slice(i + 1)];
}

/** --mount type=…,source=…,target=…[,…] as docker's opts.MountOpt reads it. */
export function parseMount(spec: string): Record<string, unknown> {
  const bad = (why: string) => new UsageError(`invalid argument "${spec}" for "--mount" flag: ${why}`, 'run');
  const bool = (k: string, v: string | undefined) => {
    if (v === undefined || ['1', 'true', 'True', 'TRUE'].includes(v)) return true;
    if (['0', 'false', 'False', 'FALSE'].includes(v)) return false;
    throw bad(`invalid value for ${k}: ${v}`);
  };
  const m: Record<string, unknown> = { Type: 'volume' };
  const bind: Record<string, unknown> = {};
  const vol: Record<string, unknown> = {};
  const driver: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const vopts: Record<string, string> = {};
  const tmpfs: Record<string, number> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? undefined : part.slice(eq + 1);
    if (!MOUNT_KEYS.has(k)) throw bad(`unexpected key '${k}' in '${part}'`);
    if (v === undefined && !FLAG_KEYS.includes(k)) throw bad(`invalid field '${part}' must be a key=value pair`);
    const val = v ?? '';
    if (k === 'type') m.Type = val.toLowerCase();
    else if (k === 'source' || k === 'src') m.Source = val;
    else if (k === 'target' || k === 'destination' || k === 'dst') m.Target = val;
    else if (k === 'readonly' || k === 'ro') m.ReadOnly = bool(k, v);
    else if (k === 'consistency') m.Consistency = val;
    else if (k === 'bind-propagation') bind.Propagation = val.toLowerCase();
    else if (k === 'bind-nonrecursive') bind.NonRecursive = bool(k, v);
    else if (k === 'volume-nocopy') vol.NoCopy = bool(k, v);
    else if (k === 'volume-label') { const [a, b] = pair(val); labels[a] = b; }
    else if (k === 'volume-driver') driver.Name = val;
    else if (k === 'volume-opt') { const [a, b] = pair(val); vopts[a] = b; }
    else if (k === 'tmpfs-size') { try { tmpfs.SizeBytes = ramInBytes(val); } catch { throw bad(`invalid value for ${k}: ${val}`); } }
    else if (k === 'tmpfs-mode') {
      if (!/^[0-7]+$/.test(val)) throw bad(`invalid value for ${k}: ${val}`);
      tmpfs.Mode = parseInt(val, 8);
    }
  }
  if (!m.Target) throw bad('target is required');
  if (Object.keys(labels).length) vol.Labels = labels;
  if (Object.keys(vopts).length) driver.Options = vopts;
  if (Object.keys(driver).length) vol.DriverConfig = driver;
  const mixed = (what: string, o: Record<string, unknown>, type: string, key: string) => {
    if (!Object.keys(o).length) return;
    if (m.Type !== type) throw bad(`cannot mix '${what}-*' options with mount type '${String(m.Type)}'`);
    m[key] = o;
  };
  mixed('bind', bind, 'bind', 'BindOptions');
  mixed('volume', vol, 'volume', 'VolumeOptions');
  mixed('tmpfs', tmpfs, 'tmpfs', 'TmpfsOptions');
  return m;
}

/** --device /dev/x[:/dev/y][:rwm] (docker's parseDevice: a second part that is a mode is the mode). */
export function parseDevice(d: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = d.split(':');
  const isMode = (x: string | undefined) => !!x && /^[rwm]{1,3}$/.test(x);
  let [src = '', dst = '', perm = 'rwm'] = parts;
  if (parts.length === 2 && isMode(dst)) { perm = dst; dst = ''; }
  if (parts.length > 3 || !src || (parts.length === 3 && !isMode(perm))) {
    throw new UsageError(`invalid argument "${d}" for "--device" flag: bad format for path: ${d}`, 'run');
  }
  return { PathOnHost: src, PathInContainer: dst || src, CgroupPermissions: perm };
}
