// Running one CNI plugin binary (libcni's pkg/invoke): find it in the bin dirs, set the
// CNI_* environment, write the config on stdin, read a result or an error from stdout.
import { promises as fs, constants } from 'node:fs';
import * as path from 'node:path';
import { TsulaError, notFound, type ErrorKind } from '../../common/errors.js';
import { exec } from '../../common/exec.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

export interface InvokeArgs {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** CNI_ARGS as key/value pairs ("IgnoreUnknown=1;K8S_POD_NAME=..."). */
  args?: [string, string][];
  /** The bin dirs (CNI_PATH): delegating plugins (bridge → host-local) look there too. */
  path: string[];
}

export interface InvokeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** What the error says about the plugin, e.g. `plugin "bridge" (network "tsula")`. */
  who: string;
}

/** A plugin's own error (`{"code","msg","details"}` with a non-zero exit), or how it failed. */
export class CniPluginError extends TsulaError {
  constructor(kind: ErrorKind, message: string, readonly cniCode: number, readonly plugin: string, cause?: unknown) {
    super(kind, message, cause === undefined ? undefined : { cause });
  }
}

// The spec's well-known codes (SPEC.md "Error"): 11 is the one a caller may retry.
const CODE_TEXT: Record<number, string> = {
  1: 'incompatible CNI version', 2: 'unsupported field in network configuration', 3: 'container unknown or does not exist',
  4: 'invalid environment variables', 5: 'I/O failure', 6: 'failed to decode content', 7: 'invalid network configuration',
  11: 'try again later',
};

/** The plugin binary for a type: the first executable `<dir>/<type>` of the bin dirs. */
export async function findPlugin(type: string, dirs: string[]): Promise<string> {
  if (!type || type.includes('/') || type === '.' || type === '..') throw notFound(`invalid cni plugin type "${type}"`);
  for (const d of dirs) {
    const p = path.join(d, type);
    try {
      const st = await fs.stat(p);
      if (st.isFile()) { await fs.access(p, constants.X_OK); return p; }
    } catch { /* not here */ }
  }
  throw notFound(`cni plugin "${type}" not found in ${dirs.join(':') || '(no bin dirs)'}`);
}

/** The plugin's environment: ours without stray CNI_* values, then the call's own. */
export function pluginEnv(a: InvokeArgs, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('CNI_')) env[k] = v;
  env.CNI_COMMAND = a.command;
  env.CNI_CONTAINERID = a.containerId ?? '';
  env.CNI_NETNS = a.netns ?? '';
  env.CNI_IFNAME = a.ifName ?? '';
  env.CNI_ARGS = (a.args ?? []).map(([k, v]) => `${k}=${v}`).join(';');
  env.CNI_PATH = a.path.join(':');
  return env;
}

/**
 * Run the plugin; its stdout on success. A failure is a CniPluginError naming the plugin:
 * its JSON error when it printed one, else its stderr and exit status.
 */
export async function invokePlugin(binary: string, stdin: string, a: InvokeArgs, o: InvokeOptions): Promise<string> {
  const env = pluginEnv(a);
  for (let attempt = 0; ; attempt++) {
    let r;
    try {
      r = await exec(binary, [], { input: stdin, env, timeoutMs: o.timeoutMs, signal: o.signal });
    } catch (e) {
      // libcni retries a binary that is being written (an upgrade in progress)
      const errno = (e as { cause?: NodeJS.ErrnoException }).cause?.code;
      if (errno === 'ETXTBSY' && attempt < 5) { await sleep(1000, o.signal); continue; }
      const kind = e instanceof TsulaError ? e.kind : 'Internal';
      throw new CniPluginError(kind, `${o.who} failed (${a.command.toLowerCase()}): ${(e as Error).message}`, 0, o.who, e);
    }
    if (r.code === 0) return r.stdout;
    throw pluginFailure(r.stdout, r.stderr, r.code, a.command, o.who);
  }
}

/** A non-zero exit read as the spec's error object where the plugin printed one. */
export function pluginFailure(stdout: string, stderr: string, exitCode: number, command: CniCommand, who: string): CniPluginError {
  const prefix = `${who} failed (${command.toLowerCase()})`;
  const obj = parseErrorObject(stdout);
  if (obj) {
    const code = typeof obj.code === 'number' ? obj.code : 0;
    const msg = typeof obj.msg === 'string' && obj.msg ? obj.msg : CODE_TEXT[code] ?? 'no message';
    const details = typeof obj.details === 'string' && obj.details ? `: ${obj.details}` : '';
    const kind: ErrorKind = code === 11 ? 'Unavailable' : 'Internal';
    return new CniPluginError(kind, `${prefix}: ${msg}${details} (code ${code})`, code, who);
  }
  const text = (stdout.trim() ? `unparsable output ${JSON.stringify(stdout.trim().slice(0, 400))}` : '')
    + (stderr ? `${stdout.trim() ? '; ' : ''}${stderr.slice(0, 400)}` : '');
  return new CniPluginError('Internal', `${prefix}: ${text || 'no error message'} (exit ${exitCode})`, 0, who);
}

function parseErrorObject(stdout: string): { code?: unknown; msg?: unknown; details?: unknown } | null {
  if (!stdout.trim()) return null;
  try {
    const o = JSON.parse(stdout) as unknown;
    if (typeof o !== 'object' || o === null) return null;
    const e = o as { code?: unknown; msg?: unknown; details?: unknown };
    return typeof e.msg === 'string' || typeof e.code === 'number' ? e : null;
  } catch {
    return null;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
