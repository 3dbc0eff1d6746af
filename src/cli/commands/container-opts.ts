// The flags of `run`/`create` and how they become the Docker API's create body
// (container.Config at the top level plus HostConfig), following docker's cli/opts.
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { FlagSpec, Parsed } from '../args.js';
import { byFlagName, UsageError } from '../args.js';
import { StatusError } from '../context.js';
import { ramInBytes } from '../units.js';
import { HEALTH_FLAGS, healthcheck } from './health-opts.js';
import { networkRequest } from './network-opts.js';
import { RESOURCE_FLAGS, resourceFields } from './resource-opts.js';
import { parseDevice, parseExpose, parseMount, parsePorts } from './run-parse.js';
import { goErrnoText } from '../../common/go-errno.js';

const S = (long: string, desc: string, short?: string, meta = 'string'): FlagSpec => ({ long, short, kind: 'string', desc, meta });
const L = (long: string, desc: string, short?: string): FlagSpec => ({ long, short, kind: 'list', desc, meta: 'list' });
const B = (long: string, desc: string, short?: string): FlagSpec => ({ long, short, kind: 'bool', desc });

export const CONTAINER_FLAGS: FlagSpec[] = ([
  ...RESOURCE_FLAGS,
  ...HEALTH_FLAGS,
  L('add-host', 'Add a custom host-to-IP mapping (host:ip)'),
  L('annotation', 'Add an annotation to the container (passed through to the OCI runtime)'),
  L('attach', 'Attach to STDIN, STDOUT or STDERR', 'a'),
  L('cap-add', 'Add Linux capabilities'),
  L('cap-drop', 'Drop Linux capabilities'),
  S('cgroup-parent', 'Optional parent cgroup for the container'),
  S('cgroupns', 'Cgroup namespace to use (host|private)'),
  S('cidfile', 'Write the container ID to the file'),
  L('device', 'Add a host device to the container'),
  L('device-cgroup-rule', 'Add a rule to the cgroup allowed devices list'),
  // docker's content trust needs a notary server; tsula verifies no signatures either way
  { long: 'disable-content-trust', kind: 'bool', desc: 'Skip image verification', dflt: true },
  L('dns', 'Set custom DNS servers'),
  L('dns-option', 'Set DNS options'),
  // docker's hidden alias (cli/command/container/opts.go), used by iSulad's and older scripts
  { long: 'dns-opt', kind: 'list', desc: 'Set DNS options', meta: 'list', hidden: true },
  L('dns-search', 'Set custom DNS search domains'),
  S('domainname', 'Container NIS domain name'),
  S('entrypoint', 'Overwrite the default ENTRYPOINT of the image'),
  L('env', 'Set environment variables', 'e'),
  L('env-file', 'Read in a file of environment variables'),
  L('expose', 'Expose a port or a range of ports'),
  L('group-add', 'Add additional groups to join'),
  S('hostname', 'Container host name', 'h'),
  // iSulad's: OCI hooks from a file the daemon reads
  S('hook-spec', 'File containing hook definition (prestart, poststart, poststop)'),
  B('init', 'Run an init inside the container that forwards signals and reaps processes'),
  B('interactive', 'Keep STDIN open even if not attached', 'i'),
  S('ip', 'IPv4 address (e.g., 172.30.100.104)'),
  S('ip6', 'IPv6 address (e.g., 2001:db8::33)'),
  S('ipc', 'IPC mode to use'),
  S('isolation', 'Container isolation technology'),
  L('label', 'Set meta data on a container', 'l'),
  L('label-file', 'Read in a line delimited file of labels'),
  L('link', 'Add link to another container'),
  L('link-local-ip', 'Container IPv4/IPv6 link-local addresses'),
  S('log-driver', 'Logging driver for the container'),
  L('log-opt', 'Log driver options'),
  S('mac-address', 'Container MAC address (e.g., 92:d0:c6:0a:29:33)'),
  L('mount', 'Attach a filesystem mount to the container'),
  // -n: isula's short form (docker has none)
  S('name', 'Assign a name to the container', 'n'),
  { long: 'network', kind: 'list', desc: 'Connect a container to a network (bridge, host, none, container:<name|id>, or a network\'s name)', meta: 'network' },
  { long: 'net', kind: 'list', desc: 'Alias of --network', meta: 'network' },
  L('network-alias', 'Add network-scoped alias for the container'),
  S('pid', 'PID namespace to use'),
  S('platform', 'Set platform if server is multi-platform capable'),
  B('privileged', 'Give extended privileges to this container'),
  L('publish', "Publish a container's port(s) to the host", 'p'),
  B('publish-all', 'Publish all exposed ports to random ports', 'P'),
  { long: 'pull', kind: 'string', desc: 'Pull image before running ("always"|"missing"|"never")', meta: 'string', dflt: 'missing' },
  B('quiet', 'Suppress the pull output', 'q'),
  B('read-only', "Mount the container's root filesystem as read only"),
  { long: 'restart', kind: 'string', desc: 'Restart policy to apply when a container exits', meta: 'string', dflt: 'no' },
  B('rm', 'Automatically remove the container when it exits'),
  S('runtime', 'Runtime to use for this container'),
  L('security-opt', 'Security Options'),
  S('shm-size', 'Size of /dev/shm', undefined, 'bytes'),
  S('stop-signal', 'Signal to stop the container'),
  L('storage-opt', 'Storage driver options for the container'),
  { long: 'stop-timeout', kind: 'int', desc: 'Timeout (in seconds) to stop a container', meta: 'int' },
  L('sysctl', 'Sysctl options'),
  L('tmpfs', 'Mount a tmpfs directory'),
  B('tty', 'Allocate a pseudo-TTY', 't'),
  L('ulimit', 'Ulimit options'),
  S('user', 'Username or UID (format: <name|uid>[:<group|gid>])', 'u'),
  S('userns', 'User namespace to use'),
  S('uts', 'UTS namespace to use'),
  L('volume', 'Bind mount a volume', 'v'),
  S('volume-driver', 'Optional volume driver for the container'),
  L('volumes-from', 'Mount volumes from the specified container(s)'),
  S('workdir', 'Working directory inside the container', 'w'),
] satisfies FlagSpec[]).sort(byFlagName);

export const RUN_ONLY_FLAGS: FlagSpec[] = [
  B('detach', 'Run container in background and print container ID', 'd'),
  S('detach-keys', 'Override the key sequence for detaching a container'),
  { long: 'sig-proxy', kind: 'bool', desc: 'Proxy received signals to the process', dflt: true },
];

const ULIMITS = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile',
  'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as']);

/**
 * --security-opt as docker/cli sends it (parseSecurityOpts, parseSystemPaths): a seccomp
 * profile's file sent as its compacted JSON (the daemon never reads the client's files);
 * systempaths=unconfined taken out, as empty path lists.
 */
function securityOpts(opts: string[]): { SecurityOpt: string[] | null; MaskedPaths?: string[]; ReadonlyPaths?: string[] } {
  const rest = opts.filter((o) => o !== 'systempaths=unconfined').map((o) => {
    const m = /^seccomp[=:](.+)$/.exec(o);
    if (!m || m[1] === 'builtin' || m[1] === 'unconfined') return o;
    let text: string;
    try {
      text = readFileSync(m[1]!, 'utf8');
    } catch (err) {
      throw new UsageError(`opening seccomp profile (${m[1]}) failed: open ${m[1]}: ${goErrnoText(err) ?? (err as Error).message}`, 'run');
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch (err) {
      throw new UsageError(`compacting json for seccomp profile (${m[1]}) failed: ${(err as Error).message}`, 'run');
    }
  });
  return { SecurityOpt: rest.length ? rest : null, ...(rest.length < opts.length ? { MaskedPaths: [], ReadonlyPaths: [] } : {}) };
}

/** Lines of an --env-file / --label-file: comments and blanks skipped, "KEY" alone taken from our env. */
function readKvFile(path: string, fromEnv: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`open ${path}: ${goErrnoText(err) ?? (err as Error).message}`, 'run');
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '').replace(/\r$/, '');
    if (!line || line.startsWith('#')) continue;
    if (line.includes('=')) out.push(line);
    else if (fromEnv) {
      const v = process.env[line.trim()];
      if (v !== undefined) out.push(`${line.trim()}=${v}`);
    } else out.push(line);
  }
  return out;
}

/** `-e KEY` takes KEY's value from the client's environment when it is set there. */
function envValue(e: string): string {
  if (e.includes('=')) return e;
  const v = process.env[e];
  return v === undefined ? e : `${e}=${v}`;
}

function kvMap(items: string[]): Record<string, string> {
  const m: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq < 0) m[it] = '';
    else m[it.slice(0, eq)] = it.slice(eq + 1);
  }
  return m;
}

function strictKv(items: string[], flag: string): Record<string, string> {
  for (const it of items) {
    if (!it.includes('=')) throw new UsageError(`invalid argument "${it}" for "--${flag}" flag: invalid key=value: ${it}`, 'run');
  }
  return kvMap(items);
}

export function parseUlimit(s: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(s);
  if (!m) throw new UsageError(`invalid argument "${s}" for "--ulimit" flag: invalid ulimit argument: ${s}`, 'run');
  if (!ULIMITS.has(m[1]!)) throw new UsageError(`invalid argument "${s}" for "--ulimit" flag: invalid ulimit type: ${m[1]}`, 'run');
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard && hard !== -1) {
    throw new UsageError(`invalid argument "${s}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`, 'run');
  }
  return { Name: m[1]!, Soft: soft, Hard: hard };
}

/** docker's parseStorageOpts: each --storage-opt is key=value. */
function storageOpts(items: string[]): Record<string, string> {
  for (const it of items) if (!it.includes('=')) throw new UsageError('invalid storage option', 'run');
  return kvMap(items);
}

function shmSize(p: Parsed): number {
  const v = p.str('shm-size') ?? '';
  try {
    return ramInBytes(v);
  } catch {
    throw new UsageError(`invalid argument "${v}" for "--shm-size" flag: invalid size: '${v}'`, 'run');
  }
}

export interface CreateRequest {
  name?: string;
  platform?: string;
  body: Record<string, unknown>;
  /** The API version the body needs, when above the CLI's own (see network-opts.ts). */
  apiVersion?: string;
}

/** Build POST /containers/create's query and body from parsed flags, IMAGE and CMD. */
export function buildCreate(p: Parsed, opts: { detach: boolean; run: boolean }): CreateRequest {
  const [image, ...cmd] = p.args;
  if (!image) throw new UsageError(`"tsula ${opts.run ? 'run' : 'create'}" requires at least 1 argument.`, 'run', 1);
  const attach = p.list('attach').map((s) => s.toLowerCase());
  for (const a of attach) {
    if (!['stdin', 'stdout', 'stderr'].includes(a)) throw new UsageError(`invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`, 'run');
  }
  const interactive = p.bool('interactive');
  let attachStdin = attach.includes('stdin') || interactive;
  let attachStdout = attach.length === 0 || attach.includes('stdout');
  let attachStderr = attach.length === 0 || attach.includes('stderr');
  if (opts.detach) {
    // docker's runContainer refuses it after parsing: a plain error, exit 1
    if (attach.length) throw new StatusError(1, 'Conflicting options: -a and -d');
    attachStdin = attachStdout = attachStderr = false;
  }
  const env = [
    ...p.list('env-file').flatMap((f) => readKvFile(f, true)),
    ...p.list('env').map(envValue),
  ];
  const labels = kvMap([...p.list('label-file').flatMap((f) => readKvFile(f, false)), ...p.list('label')]);
  const volumes: Record<string, object> = {};
  const binds: string[] = [];
  // docker's CLI sorts -v into binds (a source given) and volumes without checking them
  // further: the daemon judges the spec ("invalid volume specification: '…'")
  for (const v of p.list('volume')) {
    const parts = v.split(':');
    if (parts.length === 1 || !parts[0]) volumes[v] = {};
    else binds.push(v);
  }
  const exposed: Record<string, object> = {};
  for (const e of p.list('expose')) parseExpose(e, exposed);
  const portBindings = parsePorts(p.list('publish'), exposed);

  let entrypoint: string[] | undefined;
  const ep = p.str('entrypoint');
  if (ep !== undefined) entrypoint = [ep]; // `--entrypoint ""` resets it: [""]

  // docker's ParseRestartPolicy checks only the form; the daemon judges the name
  const restart = p.str('restart') ?? '';
  const rParts = restart ? restart.split(':') : [''];
  if (rParts.length > 2) throw new UsageError('invalid restart policy format', 'run');
  const [rName, rMax] = rParts as [string, string | undefined];
  if (rMax !== undefined && !/^[+-]?\d+$/.test(rMax)) throw new UsageError('maximum retry count must be an integer', 'run');
  if (p.bool('rm') && !['', 'no'].includes(rName)) throw new UsageError('Conflicting options: --restart and --rm', 'run');
  const logDriver = p.str('log-driver');
  const logOpts = p.list('log-opt');
  const devices = p.list('device').map(parseDevice);
  const tmpfs: Record<string, string> = {};
  for (const t of p.list('tmpfs')) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }

  const network = networkRequest(p);
  const hostConfig: Record<string, unknown> = {
    Binds: binds.length ? binds : null,
    NetworkMode: network.mode,
    PortBindings: portBindings,
    RestartPolicy: { Name: rName || 'no', MaximumRetryCount: rMax ? Number(rMax) : 0 },
    AutoRemove: p.bool('rm'),
    VolumesFrom: p.list('volumes-from').length ? p.list('volumes-from') : null,
    CapAdd: p.list('cap-add').length ? p.list('cap-add') : null,
    CapDrop: p.list('cap-drop').length ? p.list('cap-drop') : null,
    CgroupnsMode: p.str('cgroupns') ?? '',
    Dns: p.list('dns'),
    DnsOptions: [...p.list('dns-option'), ...p.list('dns-opt')],
    DnsSearch: p.list('dns-search'),
    ExtraHosts: p.list('add-host').length ? p.list('add-host') : null,
    GroupAdd: p.list('group-add').length ? p.list('group-add') : null,
    IpcMode: p.str('ipc') ?? '',
    PidMode: p.str('pid') ?? '',
    Privileged: p.bool('privileged'),
    PublishAllPorts: p.bool('publish-all'),
    ReadonlyRootfs: p.bool('read-only'),
    // docker/cli's parseSystemPaths: systempaths=unconfined is no option the daemon sees but
    // empty lists of masked and read-only paths
    ...securityOpts(p.list('security-opt')),
    UTSMode: p.str('uts') ?? '',
    UsernsMode: p.str('userns') ?? '',
    CgroupParent: p.str('cgroup-parent') ?? '',
    ...resourceFields(p, opts.run ? 'run' : 'create'),
    Ulimits: p.list('ulimit').map(parseUlimit),
    Devices: devices,
  };
  // Left out when unset, as docker's omitempty fields are: the daemon picks its default.
  if (p.str('runtime')) hostConfig.Runtime = p.str('runtime');
  if (p.list('mount').length) hostConfig.Mounts = p.list('mount').map(parseMount);
  if (p.has('shm-size')) hostConfig.ShmSize = shmSize(p);
  if (p.bool('init')) hostConfig.Init = true;
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = tmpfs;
  if (p.list('sysctl').length) hostConfig.Sysctls = strictKv(p.list('sysctl'), 'sysctl');
  if (p.list('annotation').length) hostConfig.Annotations = strictKv(p.list('annotation'), 'annotation');
  if (logDriver || logOpts.length) hostConfig.LogConfig = { Type: logDriver ?? '', Config: kvMap(logOpts) };
  if (p.list('link').length) hostConfig.Links = p.list('link');
  if (p.list('device-cgroup-rule').length) hostConfig.DeviceCgroupRules = p.list('device-cgroup-rule');
  if (p.list('storage-opt').length) hostConfig.StorageOpt = storageOpts(p.list('storage-opt'));
  if (p.str('volume-driver')) hostConfig.VolumeDriver = p.str('volume-driver');
  if (p.str('isolation')) hostConfig.Isolation = p.str('isolation');
  // the daemon reads the file (it runs on this host): an absolute path, as isula sends it
  if (p.str('hook-spec')) hostConfig.HookSpec = resolvePath(p.str('hook-spec')!);

  const body: Record<string, unknown> = {
    Hostname: p.str('hostname') ?? '',
    Domainname: p.str('domainname') ?? '',
    User: p.str('user') ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ExposedPorts: Object.keys(exposed).length ? exposed : undefined,
    Tty: p.bool('tty'),
    OpenStdin: interactive,
    // `run -i` (and `create -i`, started with start -ai) closes the container's stdin when
    // its one attached client leaves; `run -d` attaches nothing
    StdinOnce: interactive && attachStdin && !opts.detach,
    Env: env,
    Cmd: cmd.length ? cmd : null,
    Image: image,
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: p.str('workdir') ?? '',
    Entrypoint: entrypoint ?? null,
    Labels: labels,
    HostConfig: hostConfig,
    NetworkingConfig: { EndpointsConfig: network.endpoints },
  };
  if (p.str('stop-signal')) body.StopSignal = p.str('stop-signal');
  if (p.has('stop-timeout')) body.StopTimeout = p.num('stop-timeout');
  if (p.str('mac-address') && !network.macInEndpoint) body.MacAddress = p.str('mac-address');
  const health = healthcheck(p);
  if (health) body.Healthcheck = health;
  return { name: p.str('name'), platform: p.str('platform'), body, apiVersion: network.apiVersion };
}
