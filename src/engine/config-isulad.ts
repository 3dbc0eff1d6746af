// iSulad's own daemon.json keys (and dockerd's log-driver/log-opts, which share two names), so that its file (/etc/isulad/daemon.json as installed, or
// as openEuler's guides write it) starts tsulad as it is: what tsulad takes from them (the
// pid file, the containers' umask, the CRI streaming port, iSulad's log levels, "" for
// unset), and those it accepts but does not act on, named once at start. Security switches
// tsulad cannot honour (TLS, an authorization plugin, user namespaces) are refused rather
// than ignored.
import type { Zod } from '../common/lazy-schema.js';
import { ULIMIT_NAMES } from '../oci/host.js';
import type { DaemonFileConfig } from './config.js';

/** iSulad's levels (FATAL ALERT CRIT ERROR WARN NOTICE INFO DEBUG TRACE), any case → tsulad's. */
export function isuladLogLevel(s: string): 'debug' | 'info' | 'warn' | 'error' | undefined {
  switch (s.toLowerCase()) {
    case 'fatal': case 'alert': case 'crit': case 'error': return 'error';
    case 'warn': case 'warning': case 'notice': return 'warn';
    case 'info': return 'info';
    case 'debug': case 'trace': return 'debug';
    default: return undefined;
  }
}

/** The umask of native.umask: "normal" 0022, "secure" 0027 (iSulad's). */
const UMASKS = { normal: 0o022, secure: 0o027 } as const;

/** The keys of the daemon.json schema (config.ts) that only iSulad has. */
export const isuladKeys = (z: Zod) => {
  const off = (what: string) => z.literal(false, { message: `tsulad has no ${what}: remove the key or set it false` });
  return {
    // the runtime engine ("lcr": iSulad's liblcr, LXC); tsula runs runc
    engine: z.string().optional(),
    pidfile: z.union([z.literal(''), z.string().startsWith('/', 'must be an absolute path')]).optional(),
    'native.umask': z.enum(['normal', 'secure']).optional(),
    // the CRI streaming server's port (stream-server-port)
    'websocket-server-listening-port': z.number().int().min(0).max(65535).optional(),
    // dockerd's containers' default log driver and options, or iSulad's own log (containerLogDefaults)
    'log-driver': z.string().optional(),
    'log-opts': z.record(z.string(), z.string()).optional(),
    // accepted, not acted on (see IGNORED)
    'hook-spec': z.string().optional(),
    'start-timeout': z.string().optional(),
    'image-opt-timeout': z.string().optional(),
    'image-server-sock-addr': z.string().optional(),
    'image-layer-check': z.boolean().optional(),
    'use-decrypted-key': z.boolean().optional(),
    'insecure-skip-verify-enforce': z.boolean().optional(),
    'enable-cri-v1': z.boolean().optional(),
    'enable-pod-events': z.boolean().optional(),
    'systemd-cgroup': z.boolean().optional(),
    'selinux-enabled': z.boolean().optional(),
    'cgroup-parent': z.string().optional(),
    // dockerd's and iSulad's: each container's ulimit of a name it does not set itself
    'default-ulimits': z.record(z.string(), z.object({
      Name: z.string().optional(), Hard: z.number().int().min(-1), Soft: z.number().int().min(-1),
    }).passthrough().refine((u) => u.Hard === -1 || (u.Soft !== -1 && u.Soft <= u.Hard), 'soft limit must be less than or equal to hard limit'))
      // each name said by its own key (a refined record key is only "Invalid key in record")
      .superRefine((m, ctx) => {
        for (const n of Object.keys(m)) if (!(n in ULIMIT_NAMES)) ctx.addIssue({ code: 'custom', message: 'want a ulimit name such as nofile, nproc, core', path: [n] });
      }).optional(),
    'container-log': z.record(z.string(), z.unknown()).optional(),
    // security switches: only their "off"
    tls: off('TCP listener (TLS)').optional(),
    tlsverify: off('TCP listener (TLS)').optional(),
    'authorization-plugin': z.literal('', { message: 'tsulad has no authorization plugins: remove the key' }).optional(),
    'userns-remap': z.literal('', { message: 'tsulad has no user namespace remapping: remove the key' }).optional(),
  };
};

/** A container's LogConfig as dockerd's daemon default (its log-driver and log-opts). */
export interface LogDefaults { Type: string; Config: Record<string, string> }

// "log-driver" and "log-opts" mean two things: to dockerd the containers' default log driver
// and its options, to iSulad its own log (stdout, file, syslog; log-path, log-file-mode)
const ISULAD_LOG_DRIVERS = new Set(['stdout', 'file', 'syslog']);
const ISULAD_LOG_OPTS = new Set(['log-path', 'log-file-mode']);

/** dockerd's meaning of log-driver/log-opts (the containers' default), or undefined for iSulad's. */
export function containerLogDefaults(f: DaemonFileConfig): LogDefaults | undefined {
  const driver = f['log-driver'] || undefined;
  const opts = f['log-opts'] ?? {};
  if (driver ? ISULAD_LOG_DRIVERS.has(driver) : Object.keys(opts).some((k) => ISULAD_LOG_OPTS.has(k))) return undefined;
  if (!driver && !Object.keys(opts).length) return undefined;
  return { Type: driver ?? 'json-file', Config: { ...opts } };
}

export interface DaemonIsuladConfig {
  /** Where tsulad writes its pid (default: <state>/tsulad.pid). */
  pidFile?: string;
  /** The containers' umask (native.umask); unset: the runtime's (0022). */
  umask?: number;
  /** What to say at start: the iSulad keys tsulad accepts but does not act on, lcr's stand-in. */
  notes: string[];
  /** dockerd's log-driver and log-opts: what a container that names no log driver gets. */
  logDefaults?: LogDefaults;
  /** hook-spec: the hooks file of every container without its own (checked at start). */
  hookSpec?: string;
  /** default-ulimits: a container's ulimit of each name it does not set (dockerd's mergeUlimits). */
  defaultUlimits?: Array<{ name: string; soft: number; hard: number }>;
}

/** Values of an ignored key that ask for nothing (its default, "off" or empty): not worth a warning. */
function asksNothing(key: string, v: unknown): boolean {
  if (v === false || v === '' || v === undefined) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length === 0;
  // tsulad logs to its stderr, iSulad's "stdout"; it has no encrypted keys to decrypt
  return (key === 'log-driver' && v === 'stdout') || key === 'use-decrypted-key' || (key === 'engine' && v === 'lcr');
}

const IGNORED = ['log-driver', 'log-opts', 'start-timeout', 'image-opt-timeout', 'image-server-sock-addr',
  'image-layer-check', 'use-decrypted-key', 'insecure-skip-verify-enforce', 'enable-cri-v1', 'enable-pod-events',
  'systemd-cgroup', 'selinux-enabled', 'cgroup-parent', 'container-log', 'engine'] as const;

/** iSulad's default runtime, liblcr (LXC): tsula has none, runc stands in for it. */
export const LCR = 'lcr';

export function isuladConfig(f: DaemonFileConfig, file: string): DaemonIsuladConfig {
  const logDefaults = containerLogDefaults(f);
  const ignored = IGNORED.filter((k) => !asksNothing(k, f[k]) && !(logDefaults && (k === 'log-driver' || k === 'log-opts')));
  const notes = [
    ...(ignored.length ? [`${file}: iSulad's keys tsulad accepts but does not act on: ${ignored.map((k) => `"${k}"`).join(', ')}`] : []),
    ...(f['default-runtime'] === LCR || f.engine === LCR ? [`${file}: iSulad's "${LCR}" runtime (liblcr) is not tsula's: its containers run with runc`] : []),
  ];
  return {
    ...(f.pidfile ? { pidFile: f.pidfile } : {}),
    ...(f['native.umask'] ? { umask: UMASKS[f['native.umask']] } : {}),
    ...(logDefaults ? { logDefaults } : {}),
    ...(f['hook-spec'] ? { hookSpec: f['hook-spec'] } : {}),
    ...(f['default-ulimits'] && Object.keys(f['default-ulimits']).length
      ? { defaultUlimits: Object.entries(f['default-ulimits']).map(([name, u]) => ({ name, soft: u.Soft, hard: u.Hard })) } : {}),
    notes,
  };
}
