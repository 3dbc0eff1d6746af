// The builder's run config: docker's container.Config as dockerd's legacy builder carries it
// from step to step (it becomes each image's config), and the "#(nop)" commands that name a
// step in the image's container_config and history (`/bin/sh -c #(nop)  CMD ["sh"]`), with
// Go's %q and %v spellings where dockerd formats them so.
import type { HealthConfig } from './instructions.js';
import { goDuration } from '../../common/duration.js';

export interface RunConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  Shell?: string[];
  [k: string]: unknown;
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function emptyRunConfig(): RunConfig {
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null,
    WorkingDir: '', Entrypoint: null, OnBuild: null, Labels: null,
  };
}

/** An image's config as the run config a stage starts from (dockerd's beginStage). */
export function runConfigFromImage(cfg: Record<string, unknown> | undefined): RunConfig {
  const rc = { ...emptyRunConfig(), ...structuredClone(cfg ?? {}) } as RunConfig;
  rc.OpenStdin = false;
  rc.StdinOnce = false;
  const env = rc.Env ?? [];
  if (!env.some((e) => e.split('=')[0] === 'PATH')) rc.Env = [...env, `PATH=${DEFAULT_PATH}`];
  return rc;
}

export function copyRunConfig(rc: RunConfig, mod: Partial<RunConfig> = {}): RunConfig {
  return { ...structuredClone(rc), ...structuredClone(mod) };
}

export function shellOf(rc: RunConfig): string[] {
  return rc.Shell?.length ? [...rc.Shell] : [...DEFAULT_SHELL];
}

/** Metadata steps' command: the shell, "#(nop) ", the comment (two arguments: two spaces when joined). */
export function withCmdComment(rc: RunConfig, comment: string): RunConfig {
  return copyRunConfig(rc, { Cmd: [...shellOf(rc), '#(nop) ', comment] });
}

/** WORKDIR, COPY and ADD's older one-argument form of it. */
export function withCmdCommentString(rc: RunConfig, comment: string): RunConfig {
  return copyRunConfig(rc, { Cmd: [...shellOf(rc), `#(nop) ${comment}`] });
}

/** Go's strconv.Quote (what %q prints for a string). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** %q of a []string: ["a" "b"]. */
export const goQuoteList = (l: string[]) => `[${l.map(goQuote).join(' ')}]`;
/** %v of a []string: [a b]. */
export const goList = (l: string[]) => `[${l.join(' ')}]`;


/** HEALTHCHECK's comment: dockerd prints its *HealthConfig with %q (Go's struct spelling). */
export function healthComment(h: HealthConfig): string {
  const dur = (x?: number) => goQuote(goDuration(x ?? 0));
  const r = h.Retries ?? 0;
  // %q of an int is a quoted character literal
  const retries = r < 0x20 || r === 0x7f ? `'\\x${r.toString(16).padStart(2, '0')}'` : `'${String.fromCodePoint(r)}'`;
  // dockerd 25+'s HealthConfig has StartInterval after StartPeriod: %q prints every field
  return `HEALTHCHECK &{${goQuoteList(h.Test)} ${dur(h.Interval)} ${dur(h.Timeout)} ${dur(h.StartPeriod)} ${dur(h.StartInterval)} ${retries}}`;
}

/** dockerd's TruncateID: the id without its algorithm, 12 characters. */
export function shortImageId(id: string): string {
  const hex = id.includes(':') ? id.slice(id.indexOf(':') + 1) : id;
  return hex.slice(0, 12);
}
