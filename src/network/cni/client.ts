// The CNI client (libcni's CNIConfig, written small): ADD over a config list in order, each
// plugin getting the previous result as prevResult; DEL in reverse with the cached ADD
// result; CHECK; VERSION probing; GC of attachments nobody owns any more.
//
// Where it differs from libcni, on purpose:
// - the cache entry is written BEFORE the first plugin runs (without a result), so a daemon
//   killed in the middle of an ADD leaves a record that a later DEL or GC finds; libcni
//   writes it only after success, and a crash there leaks the IP and the veth;
// - a failed ADD is rolled back here (DEL of the plugins that ran, in reverse, as the CRI
//   plugins' teardown right after a failed setup would), and the entry is dropped only once
//   that DEL went through;
// - a DEL without runtime args reuses the cached ones (CNI_ARGS, port mappings), so a DEL
//   from a fresh daemon that lost its pod records still tells portmap what to remove.
import type { Logger } from '../../common/log.js';
import { failedPrecondition, internal, invalidArgument, notFound, unavailable, unimplemented, errorKind, errorMessage, isKind } from '../../common/errors.js';
import { compareVersions, parseConfList, type NetworkConfigList, type PluginConf } from './config.js';
import { CniPluginError, findPlugin, invokePlugin, type CniCommand, type InvokeArgs } from './invoke.js';
import { parseResult, type CniResult } from './result.js';
import { ResultCache, type CachedAttachment } from './cache.js';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

export interface DnsCapability { servers?: string[]; searches?: string[]; options?: string[] }
/** The bandwidth plugin's runtime config: rates in bits/s, bursts in bits. */
export interface BandwidthCapability { ingressRate?: number; ingressBurst?: number; egressRate?: number; egressBurst?: number }

/** Runtime data for plugins that declare the capability (libcni's CapabilityArgs). */
export interface CapabilityArgs {
  portMappings?: PortMapping[];
  dns?: DnsCapability;
  bandwidth?: BandwidthCapability;
  [capability: string]: unknown;
}

/** One attachment: a container's interface on a network (libcni's RuntimeConf). */
export interface RuntimeConf {
  containerId: string;
  /** The netns path; may be '' on DEL when the namespace is gone already. */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs; see podArgs(). */
  args?: [string, string][];
  capabilityArgs?: CapabilityArgs;
}

export interface CniClientOptions {
  /** Where plugin binaries are looked up, in order (CNI_PATH). */
  binDirs: string[];
  /** The result cache's root (libcni's /var/lib/cni); results go under `<cacheDir>/results`. */
  cacheDir: string;
  /** Bound on each plugin run (default 60 s); a hung plugin's process group is killed. */
  timeoutMs?: number;
  log?: Logger;
}

export interface PluginVersionInfo { cniVersion: string; supportedVersions: string[] }

export interface GcReport {
  /** `containerId/ifName` of each stale attachment DEL released. */
  released: string[];
  failed: { attachment: string; error: string }[];
}

/** CNI_ARGS the CRI plugins pass: pod identity, and IgnoreUnknown for plugins that know none. */
export function podArgs(p: { namespace: string; name: string; uid: string; infraContainerId: string }): [string, string][] {
  return [['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', p.namespace], ['K8S_POD_NAME', p.name],
    ['K8S_POD_INFRA_CONTAINER_ID', p.infraContainerId], ['K8S_POD_UID', p.uid]];
}

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class CniClient {
  readonly cache: ResultCache;
  private readonly timeoutMs: number;

  constructor(private readonly o: CniClientOptions) {
    this.cache = new ResultCache(o.cacheDir);
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  /** ADD the attachment over the list; on failure what was added is DELeted again. */
  async add(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<CniResult> {
    validateRuntime(rt, true);
    const entry = this.entry(list, rt);
    await this.cache.write(entry); // in progress: a crash from here on leaves a record for DEL
    let prev: Record<string, unknown> | undefined;
    let result: CniResult | undefined;
    let reached = 0; // plugins whose ADD began: the ones a rollback must DEL
    try {
      for (const plugin of list.plugins) {
        // a request given up on stops between plugins, never inside one: a plugin killed
        // half way leaves a state its DEL trips on (bridge's DEL fails on the masquerade
        // chain an ADD killed early never made), so the rollback fails and the attachment
        // waits for another DEL
        if (signal?.aborted) throw unavailable(`${describe(list, plugin)}: not run: the request was cancelled`);
        reached++;
        const out = await this.run('ADD', list, plugin, rt, prev);
        let json: unknown;
        try { json = JSON.parse(out); } catch { throw internal(`${describe(list, plugin)} printed no valid result: ${JSON.stringify(out.slice(0, 200))}`); }
        result = parseResult(json, list.cniVersion, describe(list, plugin));
        // the first result (the interface and its IPs) is kept while the chain goes on: a
        // crash during a later plugin (firewall, portmap) leaves a DEL that can name the IPs
        // their rules hold (their DEL finds them in prevResult). Not synced: a power cut
        // takes the namespace and the rules with it.
        if (!prev && reached < list.plugins.length) await this.cache.write({ ...entry, result: result.raw }, 'none');
        prev = result.raw;
      }
      if (!result) throw internal(`network "${list.name}" has no plugins`);
      await this.cache.write({ ...entry, result: result.raw });
      return result;
    } catch (e) {
      // DEL what began its ADD, in reverse (plugins after the failed one never ran; the
      // failed one may have done half its work). Not under the caller's signal: an aborted
      // request must still be cleaned up, each plugin bounded by the timeout.
      const ran = { ...list, plugins: list.plugins.slice(0, reached) };
      const undo = (await this.delPlugins(ran, rt, prev, undefined, true)).map(errorMessage);
      if (undo.length) {
        this.o.log?.warn('cni: rollback after a failed ADD left errors; the cache entry stays for a later DEL', { container: rt.containerId, errors: undo });
        throw new CniPluginError(errorKind(e), `${errorMessage(e)} (and the rollback failed: ${undo.join('; ')})`,
          e instanceof CniPluginError ? e.cniCode : 0, e instanceof CniPluginError ? e.plugin : '', e);
      }
      await this.cache.remove(list.name, rt.containerId, rt.ifName);
      throw e;
    }
  }

  /**
   * DEL the attachment: every plugin, in reverse, with the cached ADD result as prevResult
   * (spec ≥ 0.4.0). Succeeds for things already gone. The cache entry goes once all plugins
   * succeeded; on an error it stays so the DEL can be retried.
   */
  async del(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void> {
    validateRuntime(rt, false);
    const cached = await this.cache.read(list.name, rt.containerId, rt.ifName);
    const eff: RuntimeConf = {
      ...rt,
      args: rt.args ?? cached?.cniArgs,
      capabilityArgs: rt.capabilityArgs ?? (cached?.capabilityArgs as CapabilityArgs | undefined),
    };
    const errs = await this.delPlugins(list, eff, cached?.result, signal, false);
    if (errs.length) throw errs[0];
    await this.cache.remove(list.name, rt.containerId, rt.ifName);
  }

  /** DEL a cached attachment with the config it was added with (recovery, GC). */
  async delCached(a: CachedAttachment, netns: string | undefined, signal?: AbortSignal): Promise<void> {
    const list = parseConfList(a.config, `cached config of ${a.networkName}-${a.containerId}-${a.ifName}`);
    await this.del(list, {
      containerId: a.containerId, ifName: a.ifName, netns: netns ?? a.netns ?? '',
      args: a.cniArgs, capabilityArgs: a.capabilityArgs as CapabilityArgs,
    }, signal);
  }

  /** CHECK (spec ≥ 0.4.0): the plugins verify that the attachment is still as ADD left it. */
  async check(list: NetworkConfigList, rt: RuntimeConf, signal?: AbortSignal): Promise<void> {
    validateRuntime(rt, true);
    if (compareVersions(list.cniVersion, '0.4.0') < 0) throw unimplemented(`network "${list.name}": cniVersion ${list.cniVersion} does not support the CHECK command`);
    if (list.disableCheck) return;
    const cached = await this.cache.read(list.name, rt.containerId, rt.ifName);
    if (!cached?.result) throw notFound(`network "${list.name}": no cached result for ${rt.containerId}/${rt.ifName} to check against`);
    for (const plugin of list.plugins) await this.run('CHECK', list, plugin, rt, cached.result, signal);
  }

  /** The cached ADD result of an attachment, if any (what PodSandboxStatus reports after a restart). */
  async cachedResult(networkName: string, containerId: string, ifName: string): Promise<CniResult | null> {
    const a = await this.cache.read(networkName, containerId, ifName);
    return a?.result ? parseResult(a.result, '1.0.0', `cached result of ${containerId}`) : null;
  }

  /** Delete what cache writes cut short by a crash left (at recovery, before any ADD). */
  removeCacheTemp(): Promise<void> {
    return this.cache.removeTemp();
  }

  /** Cached attachments (all, or one container's). */
  attachments(containerId?: string): Promise<CachedAttachment[]> {
    return this.cache.list(containerId);
  }

  /**
   * Release every cached attachment not in `valid` (`containerId/ifName` or a container id):
   * libcni's GCNetworkList, minus the plugins' own GC command (spec 1.1; the plugins here
   * speak 1.0.0). Each stale one is DELeted with the config it was added with.
   */
  async gc(valid: Iterable<string>, signal?: AbortSignal): Promise<GcReport> {
    const keep = new Set(valid);
    const report: GcReport = { released: [], failed: [] };
    for (const a of await this.cache.list()) {
      const key = `${a.containerId}/${a.ifName}`;
      if (keep.has(key) || keep.has(a.containerId)) continue;
      try {
        await this.delCached(a, undefined, signal);
        report.released.push(key);
      } catch (e) {
        report.failed.push({ attachment: key, error: errorMessage(e) });
      }
    }
    return report;
  }

  /** VERSION: the spec versions a plugin speaks. */
  async version(type: string, signal?: AbortSignal): Promise<PluginVersionInfo> {
    const binary = await findPlugin(type, this.o.binDirs);
    // dummy values as libcni sends them: plugins built on an old skel insist on these
    const a: InvokeArgs = { command: 'VERSION', netns: 'dummy', ifName: 'dummy', path: this.o.binDirs };
    let out: string;
    try {
      out = await invokePlugin(binary, JSON.stringify({ cniVersion: '1.0.0' }), a, { timeoutMs: this.timeoutMs, signal, who: `cni plugin "${type}"` });
    } catch (e) {
      if (e instanceof CniPluginError && /unknown CNI_COMMAND: VERSION/.test(e.message)) return { cniVersion: '0.1.0', supportedVersions: ['0.1.0'] };
      throw e;
    }
    let info: Partial<PluginVersionInfo>;
    try { info = JSON.parse(out) as Partial<PluginVersionInfo>; } catch { throw internal(`cni plugin "${type}": unparsable VERSION output ${JSON.stringify(out.slice(0, 200))}`); }
    const supported = Array.isArray(info.supportedVersions) ? info.supportedVersions.filter((v) => typeof v === 'string') : [];
    return { cniVersion: typeof info.cniVersion === 'string' ? info.cniVersion : '0.1.0', supportedVersions: supported.length ? supported : ['0.1.0'] };
  }

  /**
   * Check that every plugin of the list exists and speaks the list's cniVersion (libcni's
   * ValidateNetworkList); the capabilities the list declares.
   */
  async validate(list: NetworkConfigList, signal?: AbortSignal): Promise<string[]> {
    const errs: string[] = [];
    const caps = new Set<string>();
    for (const p of list.plugins) {
      p.capabilities.forEach((c) => caps.add(c));
      try {
        const v = await this.version(p.type, signal);
        if (!v.supportedVersions.includes(list.cniVersion)) errs.push(`plugin "${p.type}" does not support config version "${list.cniVersion}" (it speaks ${v.supportedVersions.join(', ')})`);
      } catch (e) {
        errs.push(errorMessage(e));
      }
    }
    if (errs.length) throw failedPrecondition(`network "${list.name}" (${list.source}): ${errs.join('; ')}`);
    return [...caps].sort();
  }

  // DEL over the list in reverse. Stops at the first error unless `keepGoing` (a rollback
  // frees what it can). The errors, empty on success.
  private async delPlugins(list: NetworkConfigList, rt: RuntimeConf, prev: Record<string, unknown> | undefined,
    signal: AbortSignal | undefined, keepGoing: boolean): Promise<Error[]> {
    // the cached result on DEL is spec 0.4.0 and later
    const prevResult = compareVersions(list.cniVersion, '0.4.0') >= 0 ? prev : undefined;
    const errs: Error[] = [];
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.run('DEL', list, plugin, rt, prevResult, signal);
      } catch (e) {
        // in a rollback, a plugin whose binary is missing cannot have made anything
        if (keepGoing && isKind(e, 'NotFound') && !(e instanceof CniPluginError)) continue;
        errs.push(e as Error);
        if (!keepGoing) break;
      }
    }
    return errs;
  }

  private async run(command: CniCommand, list: NetworkConfigList, plugin: PluginConf, rt: RuntimeConf,
    prevResult: Record<string, unknown> | undefined, signal?: AbortSignal): Promise<string> {
    const who = describe(list, plugin);
    const binary = await findPlugin(plugin.type, this.o.binDirs).catch((e: Error) => { throw notFound(`${who}: ${e.message}`); });
    const stdin = JSON.stringify(pluginConfig(list, plugin, prevResult, rt.capabilityArgs));
    const a: InvokeArgs = { command, containerId: rt.containerId, netns: rt.netns, ifName: rt.ifName, args: rt.args ?? [], path: this.o.binDirs };
    return invokePlugin(binary, stdin, a, { timeoutMs: this.timeoutMs, signal, who });
  }

  private entry(list: NetworkConfigList, rt: RuntimeConf): CachedAttachment {
    return {
      containerId: rt.containerId, ifName: rt.ifName, networkName: list.name, netns: rt.netns,
      cniArgs: rt.args ?? [], capabilityArgs: { ...(rt.capabilityArgs ?? {}) }, config: list.bytes,
    };
  }
}

/**
 * What one plugin reads on stdin (libcni's buildOneConfig): its own object with the list's
 * name and cniVersion, prevResult, and `runtimeConfig` holding only the capabilities it declares.
 */
export function pluginConfig(list: NetworkConfigList, plugin: PluginConf, prevResult?: Record<string, unknown>,
  caps?: CapabilityArgs): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin.raw, name: list.name, cniVersion: list.cniVersion };
  if (prevResult) conf.prevResult = prevResult;
  const rc: Record<string, unknown> = {};
  for (const c of plugin.capabilities) if (caps?.[c] !== undefined) rc[c] = caps[c];
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  return conf;
}

function describe(list: NetworkConfigList, plugin: PluginConf): string {
  return `cni plugin "${plugin.type}" (network "${list.name}")`;
}

// libcni's ValidateContainerID / ValidateInterfaceName: these end up in file and link names
function validateRuntime(rt: RuntimeConf, needNetns: boolean): void {
  if (!ID_RE.test(rt.containerId)) throw invalidArgument(`invalid container id "${rt.containerId}" for CNI`);
  const n = rt.ifName;
  if (!n || n.length > 15 || n === '.' || n === '..' || /[/:\s]/.test(n)) throw invalidArgument(`invalid interface name "${n}" for CNI`);
  if (needNetns && !rt.netns) throw invalidArgument(`no network namespace path for ${rt.containerId}`);
}
