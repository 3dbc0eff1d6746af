// docker commit: a container's config as the new image's, with the Dockerfile-style
// changes docker accepts (`docker commit -c 'CMD ["sh"]'`) applied on top. The layer itself
// comes from files.ts and is stored by the image store.
import { errorMessage, invalidArgument } from '../../common/errors.js';
import { commandOf, type Command } from '../build/instructions.js';
import { nodeFromLine } from '../build/parser.js';
import type { ImageConfig } from '../../image/types.js';
import type { Container } from './model.js';
import { healthcheckToDocker } from './health.js';
import { setEnvEntry } from './create.js';
import { parseSignal } from './signals.js';

/** The instructions dockerd's commit accepts (builder's validCommitCommands). */
const VALID = ['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR'];

export type CommitConfig = ImageConfig & Record<string, unknown>;

/** The new image's config: the container's (what it runs, as the image would start it). */
export function configFromContainer(c: Container, image: ImageConfig): CommitConfig {
  const k = c.config;
  return {
    Hostname: k.hostname, Domainname: k.domainname, User: k.user,
    AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ...(image.ExposedPorts ? { ExposedPorts: image.ExposedPorts } : {}),
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: [...k.env], Cmd: k.cmd.length ? [...k.cmd] : null, Image: k.imageRef,
    ...(image.Volumes ? { Volumes: image.Volumes } : {}), WorkingDir: k.workingDir,
    Entrypoint: k.entrypoint.length ? [...k.entrypoint] : null, OnBuild: null, Labels: { ...k.labels },
    ...(k.stopSignal ? { StopSignal: k.stopSignal } : {}),
    // dockerd commits the container's Config whole: its healthcheck goes into the image
    ...(k.healthcheck ? { Healthcheck: healthcheckToDocker(k.healthcheck) } : {}),
  };
}

/** Shell-ish words: quotes group, backslash escapes (enough for ENV/LABEL/EXPOSE values). */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q: string | null = null;
  let any = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (q) {
      if (ch === q) q = null;
      else if (ch === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") { q = ch; any = true; } else if (ch === '\\' && i + 1 < s.length) { cur += s[++i]; any = true; } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = ''; any = false;
    } else { cur += ch; any = true; }
  }
  if (q) throw invalidArgument(`unterminated quote in "${s}"`);
  if (cur || any) out.push(cur);
  return out;
}

/** JSON form (["a","b"]) or shell form (run by /bin/sh -c). */
function execForm(rest: string, what: string): string[] {
  if (rest.trimStart().startsWith('[')) {
    try {
      const v = JSON.parse(rest) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch { /* fall through */ }
    throw invalidArgument(`${what}: not a JSON array of strings: ${rest}`);
  }
  return ['/bin/sh', '-c', rest];
}

/** key=value pairs, or the old "KEY value" form with a single pair. */
function pairs(rest: string, what: string): Array<[string, string]> {
  const w = words(rest);
  if (w.length && !w[0]!.includes('=')) {
    if (w.length < 2) throw invalidArgument(`${what} needs a value: ${what} ${rest}`);
    return [[w[0]!, rest.trim().slice(rest.trim().indexOf(' ') + 1).trim()]];
  }
  return w.map((x) => {
    const eq = x.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${what}: "${x}" is not key=value`);
    return [x.slice(0, eq), x.slice(eq + 1)];
  });
}

/** Apply docker commit's --change lines to `cfg` (in place). */
export function applyChanges(cfg: CommitConfig, changes: string[]): void {
  // the builder's: an ENTRYPOINT clears the CMD unless a CMD came before it (one after sets it anyway)
  let cmdSet = false;
  for (const raw of changes) {
    const line = raw.trim();
    if (!line) continue;
    const sp = line.search(/\s/);
    const instr = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
    if (!VALID.includes(instr)) throw invalidArgument(`${instr.toLowerCase()} is not a valid change command`);
    // the builder's own parse first, as dockerd's BuildFromConfig: its argument checks
    // ("USER requires exactly one argument", "ENV must have two arguments", ...) and forms
    let c: Command;
    try {
      c = commandOf({ ...nodeFromLine(line, '\\'), startLine: 1, endLine: 1 });
    } catch (e) {
      throw invalidArgument(errorMessage(e));
    }
    switch (instr) {
      case 'CMD': cfg.Cmd = execForm(rest, 'CMD'); cmdSet = true; break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = execForm(rest, 'ENTRYPOINT');
        if (!cmdSet) cfg.Cmd = null;
        break;
      case 'ENV': {
        let env = cfg.Env ?? [];
        for (const [k, v] of pairs(rest, 'ENV')) env = setEnvEntry(env, `${k}=${v}`);
        cfg.Env = [...env];
        break;
      }
      case 'LABEL': cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs(rest, 'LABEL')) }; break;
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of words(rest)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalidArgument(`EXPOSE: invalid port "${p}"`);
          ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const list = rest.startsWith('[') ? execForm(rest, 'VOLUME') : words(rest);
        cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries(list.map((v) => [v, {}])) };
        break;
      }
      case 'ONBUILD': cfg.OnBuild = [...((cfg.OnBuild as string[] | null) ?? []), rest]; break;
      case 'USER': cfg.User = rest; break;
      case 'WORKDIR': cfg.WorkingDir = rest; break;
      case 'STOPSIGNAL':
        parseSignal(rest); // dispatchStopSignal's "invalid signal: FOO"
        cfg.StopSignal = rest;
        break;
      case 'HEALTHCHECK':
        // flags, NONE, CMD forms as the builder read them
        if (c.kind === 'healthcheck') cfg.Healthcheck = c.health;
        break;
    }
  }
}

/** dockerd merges a config the client sends with the container's: the client's set fields win. */
export function mergeConfig(base: CommitConfig, user: unknown): CommitConfig {
  if (!user || typeof user !== 'object' || Array.isArray(user)) return base;
  const out: CommitConfig = { ...base };
  for (const [k, v] of Object.entries(user as Record<string, unknown>)) {
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) continue;
    if (k === 'Env' && Array.isArray(v)) {
      let env = [...(base.Env ?? [])];
      for (const e of v as string[]) env = setEnvEntry(env, e);
      out.Env = env;
    } else if ((k === 'Labels' || k === 'ExposedPorts' || k === 'Volumes') && typeof v === 'object') {
      out[k] = { ...((base[k] as object | null | undefined) ?? {}), ...(v as object) };
    } else out[k] = v;
  }
  return out;
}
