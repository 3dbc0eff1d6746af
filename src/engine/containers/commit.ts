// docker commit: a container's config as the new image's, with the Dockerfile-style
// changes docker accepts (`docker commit -c 'CMD ["sh"]'`) applied on top. The layer itself
// comes from files.ts and is stored by the image store.
import * as path from 'node:path';
import { errorMessage, invalidArgument } from '../../common/errors.js';
import { commandOf, type Command } from '../build/instructions.js';
import { nodeFromLine } from '../build/parser.js';
import { ShellLex } from '../build/shell-lex.js';
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

/** The builder's lexer: a change's words expanded as a Dockerfile's. */
const LEX = new ShellLex('\\');

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
    // variables expanded as the builder's dispatch does (the config's env so far: `ENV PATH=/x:$PATH`)
    const env = cfg.Env ?? [];
    const word = (w: string) => LEX.processWord(w, env);
    switch (instr) {
      case 'CMD': cfg.Cmd = execForm(rest, 'CMD'); cmdSet = true; break;
      case 'ENTRYPOINT':
        cfg.Entrypoint = execForm(rest, 'ENTRYPOINT');
        if (!cmdSet) cfg.Cmd = null;
        break;
      case 'ENV': {
        let next = env;
        for (const [k, v] of c.kind === 'env' ? c.pairs : []) next = setEnvEntry(next, `${word(k)}=${word(v)}`);
        cfg.Env = [...next];
        break;
      }
      case 'LABEL': {
        const expand = c.kind === 'label' && c.noExpand ? (w: string) => w : word;
        cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries((c.kind === 'label' ? c.pairs : []).map(([k, v]) => [expand(k), expand(v)])) };
        break;
      }
      case 'EXPOSE': {
        const ports = { ...(cfg.ExposedPorts ?? {}) };
        for (const p of c.kind === 'expose' ? c.ports.flatMap((x) => LEX.processWords(x, env)) : []) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalidArgument(`EXPOSE: invalid port "${p}"`);
          ports[p.includes('/') ? p.toLowerCase() : `${p}/tcp`] = {};
        }
        cfg.ExposedPorts = ports;
        break;
      }
      case 'VOLUME': {
        const list = c.kind === 'volume' ? c.volumes.map(word) : [];
        cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries(list.map((v) => [v, {}])) };
        break;
      }
      case 'ONBUILD': cfg.OnBuild = [...((cfg.OnBuild as string[] | null) ?? []), rest]; break;
      case 'USER': cfg.User = c.kind === 'user' ? word(c.user) : rest; break;
      case 'WORKDIR': {
        // the builder's: a relative one goes under the one before
        const p = c.kind === 'workdir' ? word(c.path) : rest;
        cfg.WorkingDir = p.startsWith('/') ? p : path.posix.join('/', cfg.WorkingDir || '/', p);
        break;
      }
      case 'STOPSIGNAL': {
        const sig = c.kind === 'stopsignal' ? word(c.signal) : rest;
        parseSignal(sig); // dispatchStopSignal's "invalid signal: FOO"
        cfg.StopSignal = sig;
        break;
      }
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
