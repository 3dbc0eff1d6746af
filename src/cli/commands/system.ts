// `tsula version` (client and GET /version) and `tsula info` (GET /info), laid out as
// docker lays them out so that scripts and eyes used to docker find things in place.
import type { CommandSpec, Parsed } from '../args.js';
import { API_VERSION } from '../client.js';
import { errorText, StatusError, type Cli } from '../context.js';
import { tabwrite } from '../format.js';
import { bytesSize } from '../units.js';
import { INFO, typed, VERSION_INFO, type GoType } from '../gotypes.js';
import { compareStrings } from '../../common/compare.js';

export const CLIENT_VERSION = '0.1.0';

export const versionSpec: CommandSpec = {
  name: 'version', usage: '[OPTIONS]', desc: 'Show the tsula version information', maxArgs: 0,
  flags: [{ long: 'format', short: 'f', kind: 'string', desc: 'Format output using a custom template' }],
};

export const infoSpec: CommandSpec = {
  name: 'info', usage: '[OPTIONS]', desc: 'Display system-wide information', maxArgs: 0,
  flags: [{ long: 'format', short: 'f', kind: 'string', desc: 'Format output using a custom template' }],
};

type Json = Record<string, unknown>;

const archName = (a: string) => (a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a);

function clientInfo(cli: Cli): Json {
  return {
    Version: CLIENT_VERSION,
    ApiVersion: API_VERSION,
    NodeVersion: process.version,
    Os: process.platform,
    Arch: archName(process.arch),
    Context: cli.host,
  };
}

/**
 * A --format template run on docker's struct (Go names, zero values; gotypes.ts), printed
 * with its newline as docker's info and version print it: a template that does not parse
 * exits 64, one that fails to run still ends the output's line, and its error is Go's as
 * it is (the version template is named "version").
 */
async function printWith(cli: Cli, format: string, data: unknown, type: GoType, name = ''): Promise<void> {
  const { Template } = await import('../template.js');
  const named = (m: string) => (name ? m.replace(/^template: :/, `template: ${name}:`).replace('executing ""', `executing "${name}"`) : m);
  let tmpl: InstanceType<typeof Template>;
  try {
    tmpl = new Template(format);
  } catch (err) {
    throw new StatusError(64, `template parsing error: ${named((err as Error).message)}`);
  }
  let text: string;
  try {
    text = tmpl.execute(typed(data, type));
  } catch (err) {
    cli.out.write('\n');
    throw new StatusError(1, named((err as Error).message));
  }
  cli.print(text);
}

export async function version(cli: Cli, p: Parsed): Promise<number> {
  const client = clientInfo(cli);
  let server: Json | undefined;
  let err: unknown;
  try {
    server = await cli.client.json<Json>('GET', '/version');
  } catch (e) {
    err = e;
  }
  const format = p.str('format');
  if (format) {
    // docker's runVersion: a template that fails to run says so only when the server answered;
    // with no daemon, the connection's error is the one (its newline already printed)
    await printWith(cli, format, { Client: client, Server: server ?? null }, VERSION_INFO, 'version').catch((e: unknown) => {
      if (!err || !(e instanceof StatusError) || e.exitCode === 64) throw e;
    });
  } else {
    let text = `Client:\n Version:\t${client.Version}\n API version:\t${client.ApiVersion}\n` +
      ` Node version:\t${client.NodeVersion}\n OS/Arch:\t${client.Os}/${client.Arch}\n Context:\t${client.Context}\n`;
    if (server) text += `\n${serverVersionText(server)}`;
    cli.out.write(tabwrite(text, 20, 1));
  }
  if (err) {
    cli.warn(errorText(err));
    return 1;
  }
  return 0;
}

/** docker's reformatDate: an RFC 3339 build time as Go's time.ANSIC in its own zone ("Sat Dec  5 02:53:12 2026"). */
export function ansicDate(t: string): string {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return t;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][new Date(Date.UTC(y, mo - 1, d)).getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][mo - 1];
  return `${day} ${month} ${String(d).padStart(2, ' ')} ${m[4]} ${y}`;
}

function serverVersionText(s: Json): string {
  const platform = (s.Platform as Json | undefined)?.Name;
  let text = `Server:${platform ? ` ${platform}` : ''}\n`;
  const comps = (s.Components as { Name: string; Version: string; Details?: Json }[] | undefined) ?? [];
  const engine = comps.find((c) => c.Name === 'Engine');
  const d: Json = { ...s, ...(engine?.Details ?? {}) };
  text += ' Engine:\n';
  text += `  Version:\t${engine?.Version ?? s.Version ?? ''}\n`;
  text += `  API version:\t${d.ApiVersion ?? ''}${d.MinAPIVersion ? ` (minimum version ${d.MinAPIVersion})` : ''}\n`;
  if (d.NodeVersion ?? d.GoVersion) text += `  Node version:\t${d.NodeVersion ?? d.GoVersion}\n`;
  if (d.GitCommit) text += `  Git commit:\t${d.GitCommit}\n`;
  if (d.BuildTime) text += `  Built:\t${ansicDate(String(d.BuildTime))}\n`;
  text += `  OS/Arch:\t${d.Os ?? ''}/${d.Arch ?? ''}\n`;
  if (d.Experimental !== undefined) text += `  Experimental:\t${d.Experimental}\n`;
  for (const c of comps) {
    if (c.Name === 'Engine') continue;
    text += ` ${c.Name}:\n  Version:\t${c.Version}\n`;
    for (const [k, v] of Object.entries(c.Details ?? {})) text += `  ${k}:\t${v}\n`;
  }
  return text;
}

/** " Security Options" entries arrive as "name=seccomp,profile=default". */
function securityOptions(opts: unknown): string[] {
  const out: string[] = [];
  for (const o of (opts as string[] | undefined) ?? []) {
    const kv = Object.fromEntries(o.split(',').map((pair) => {
      const i = pair.indexOf('=');
      return i < 0 ? [pair, ''] : [pair.slice(0, i), pair.slice(i + 1)];
    }));
    out.push(`  ${kv.name ?? o}`);
    for (const [k, v] of Object.entries(kv)) {
      if (k !== 'name') out.push(`   ${k[0]!.toUpperCase()}${k.slice(1)}: ${v}`);
    }
  }
  return out;
}

/** docker's prettyPrintServerInfo, printing the keys the daemon sent in docker's order. */
export function infoText(i: Json): string[] {
  const L: string[] = [];
  const line = (label: string, key: string, fmt: (v: unknown) => string = String) => {
    if (i[key] !== undefined && i[key] !== null && i[key] !== '') L.push(` ${label}: ${fmt(i[key])}`);
  };
  line('Containers', 'Containers');
  if (i.Containers !== undefined) {
    for (const k of ['Running', 'Paused', 'Stopped']) {
      if (i[`Containers${k}`] !== undefined) L.push(`  ${k}: ${i[`Containers${k}`]}`);
    }
  }
  line('Images', 'Images');
  line('Server Version', 'ServerVersion');
  line('Storage Driver', 'Driver');
  for (const [k, v] of (i.DriverStatus as [string, string][] | undefined) ?? []) L.push(`  ${k}: ${v}`);
  line('Logging Driver', 'LoggingDriver');
  line('Cgroup Driver', 'CgroupDriver');
  line('Cgroup Version', 'CgroupVersion');
  const plugins = i.Plugins as Record<string, string[] | null> | undefined;
  if (plugins) {
    L.push(' Plugins:');
    for (const k of ['Volume', 'Network', 'Authorization', 'Log']) {
      if (plugins[k]?.length) L.push(`  ${k}: ${plugins[k]!.join(' ')}`);
    }
  }
  const swarm = i.Swarm as Json | undefined;
  if (swarm?.LocalNodeState) L.push(` Swarm: ${swarm.LocalNodeState}`);
  line('Runtimes', 'Runtimes', (v) => Object.keys(v as Json).sort().join(' '));
  line('Default Runtime', 'DefaultRuntime');
  line('Init Binary', 'InitBinary');
  for (const [label, key] of [['containerd version', 'ContainerdCommit'], ['runc version', 'RuncCommit'], ['init version', 'InitCommit']] as const) {
    const c = i[key] as Json | undefined;
    if (c?.ID !== undefined) L.push(` ${label}: ${c.ID}`);
  }
  const sec = securityOptions(i.SecurityOptions);
  if (sec.length) L.push(' Security Options:', ...sec);
  line('Kernel Version', 'KernelVersion');
  line('Operating System', 'OperatingSystem');
  line('OSType', 'OSType');
  line('Architecture', 'Architecture');
  line('CPUs', 'NCPU');
  line('Total Memory', 'MemTotal', (v) => bytesSize(Number(v)));
  line('Name', 'Name');
  line('ID', 'ID');
  line('Tsula Root Dir', 'DockerRootDir');
  line('Tsula Root Dir', 'TsulaRootDir');
  line('Debug Mode', 'Debug');
  line('HTTP Proxy', 'HttpProxy');
  line('HTTPS Proxy', 'HttpsProxy');
  line('No Proxy', 'NoProxy');
  line('Registry', 'IndexServerAddress');
  const labels = i.Labels as string[] | undefined;
  if (labels) L.push(' Labels:', ...labels.map((l) => `  ${l}`));
  line('Experimental', 'ExperimentalBuild');
  const reg = i.RegistryConfig as { IndexConfigs?: Record<string, { Name: string; Secure: boolean; Official?: boolean; Mirrors?: string[] | null }>; InsecureRegistryCIDRs?: string[]; Mirrors?: string[] } | undefined;
  if (reg) {
    const indexes = Object.values(reg.IndexConfigs ?? {});
    const insecure = [
      ...indexes.filter((c) => !c.Secure && !c.Official).map((c) => c.Name),
      ...(reg.InsecureRegistryCIDRs ?? []),
    ];
    if (insecure.length) L.push(' Insecure Registries:', ...insecure.map((r) => `  ${r}`));
    if (reg.Mirrors?.length) L.push(' Registry Mirrors:', ...reg.Mirrors.map((m) => `  ${m}`));
    // tsula's own: the mirrors of registries other than docker.io (docker's list is docker.io's)
    for (const c of indexes.filter((x) => !x.Official && x.Mirrors?.length).sort((a, b) => compareStrings(a.Name, b.Name))) {
      L.push(` Registry Mirrors (${c.Name}):`, ...c.Mirrors!.map((m) => `  ${m}`));
    }
  }
  line('Live Restore Enabled', 'LiveRestoreEnabled');
  return L;
}

export async function info(cli: Cli, p: Parsed): Promise<number> {
  const format = p.str('format');
  if (format) {
    const i = await cli.client.json<Json>('GET', '/info');
    // docker's info: the server's fields, and the client's under ClientInfo
    const data = { ...i, ClientInfo: { Debug: cli.debug, Context: cli.host, Plugins: [], Warnings: null } };
    await printWith(cli, format, data, INFO);
    return 0;
  }
  cli.out.write(`Client:\n Context:    ${cli.host}\n Debug Mode: ${cli.debug}\n\n`);
  let i: Json;
  try {
    i = await cli.client.json<Json>('GET', '/info');
  } catch (err) {
    cli.out.write('Server:\n');
    cli.warn(`ERROR: ${errorText(err)}`);
    cli.warn('errors pretty printing info');
    return 1;
  }
  // docker 20.10's prettyPrintServerInfo ends with an empty line
  cli.out.write(`Server:\n${infoText(i).join('\n')}\n\n`);
  for (const w of (i.Warnings as string[] | null | undefined) ?? []) cli.warn(w);
  return 0;
}
