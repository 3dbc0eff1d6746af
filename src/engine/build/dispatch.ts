// One instruction of a stage, as dockerd's dispatchers.go carries it out: the run config
// changed, then the step committed as an image (metadata steps through a container that
// never starts, RUN through one that runs, COPY/ADD through a snapshot), each probed in the
// cache first. Words are expanded (shell-lex.ts) with the run config's Env and the allowed
// build args, for the instructions dockerd expands.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../../common/errors.js';
import type { ImageConfig } from '../../image/types.js';
import { parseSignal } from '../containers/signals.js';
import { setEnvEntry } from '../containers/create.js';
import type { BuildArgs } from './buildargs.js';
import type { BuildCache } from './cache.js';
import { copyInto, downloadSource, parseChown, resolveSources } from './copy.js';
import type { Command } from './instructions.js';
import type { BuildOutput } from './output.js';
import {
  copyRunConfig, goList, goQuoteList, healthComment, shellOf, withCmdComment, withCmdCommentString, type RunConfig,
} from './runconfig.js';
import type { ShellLex } from './shell-lex.js';
import { openScratch, StepError, type BuildBackend, type StepContainers, type StepHostConfig } from './steps.js';

/** A stage's state between its steps (dockerd's dispatchState). */
export interface StageState {
  /** The last step's image ('' while a stage FROM scratch has none). */
  imageId: string;
  /** What the next step's container and image get (docker's container.Config). */
  runConfig: RunConfig;
  maintainer: string;
  cmdSet: boolean;
  buildArgs: BuildArgs;
  /** Once a step missed the cache, the rest of the stage does not look (dockerd's cacheBusted). */
  cacheBusted: boolean;
}

/** Where COPY --from finds its files: the context, or an image's (a stage's or a named one). */
export type SourceOf = (from: string) => Promise<{ root: string; release(): Promise<void>; fromImage: boolean }>;

export interface DispatchContext {
  be: BuildBackend;
  out: BuildOutput;
  lex: ShellLex;
  cache: BuildCache | null;
  containers: StepContainers;
  host: StepHostConfig;
  signal: AbortSignal;
  sources: SourceOf;
  /** Where ADD's downloads go while their step runs. */
  workDir: string;
}

/** The run config as the image's config (docker's container.Config; nulls as dockerd writes them). */
const imageConfig = (rc: RunConfig) => copyRunConfig(rc) as unknown as ImageConfig & Record<string, unknown>;

/** Look for the step's result among the cached images; on a hit the stage moves to it. */
async function probe(d: DispatchContext, s: StageState, cfg: RunConfig): Promise<boolean> {
  if (!d.cache || s.cacheBusted) return false;
  const hit = await d.cache.probe(s.imageId, cfg);
  if (!hit) { s.cacheBusted = true; return false; }
  d.out.stdout(' ---> Using cache\n');
  s.imageId = hit;
  return true;
}

/** A layer (a container's changes, or a COPY's snapshot's) as the step's image. */
async function commitLayer(d: DispatchContext, s: StageState, layer: AsyncIterable<Buffer>, containerId: string, containerConfig: RunConfig): Promise<void> {
  s.imageId = await d.be.images.commit(layer, {
    parent: s.imageId, containerId, config: imageConfig(s.runConfig), containerConfig,
    createdBy: (containerConfig.Cmd ?? []).join(' '), author: s.maintainer, engineVersion: d.be.engineVersion,
  });
}

/** The container's changes as the step's image. */
async function commitContainer(d: DispatchContext, s: StageState, id: string, containerConfig: RunConfig): Promise<void> {
  await commitLayer(d, s, await d.be.files.diffTar(d.be.containers.get(id)), id, containerConfig);
}

/** A metadata step: probe, else a container that never runs, committed (dockerd's commit). */
async function commit(d: DispatchContext, s: StageState, comment: string, oneArg = false): Promise<void> {
  const cfg = oneArg ? withCmdCommentString(s.runConfig, comment) : withCmdComment(s.runConfig, comment);
  if (await probe(d, s, cfg)) return;
  // FROM scratch with no layer yet: no image to make a container from (dockerd's has an empty
  // rootfs, whose diff is the empty layer); the step's image is that empty layer's
  if (!s.imageId) {
    await commitLayer(d, s, (async function* () { yield Buffer.alloc(1024); })(), '', cfg);
    return;
  }
  const id = await d.containers.create(cfg, d.host);
  await commitContainer(d, s, id, cfg);
}

function resolveCmdLine(c: { cmdLine: string[]; prependShell: boolean }, rc: RunConfig): string[] {
  return c.prependShell && c.cmdLine.length ? [...shellOf(rc), ...c.cmdLine] : [...c.cmdLine];
}

async function run(d: DispatchContext, s: StageState, c: { cmdLine: string[]; prependShell: boolean }): Promise<void> {
  const rc = s.runConfig;
  const cmd = resolveCmdLine(c, rc);
  const args = s.buildArgs.filterAllowed(rc.Env ?? []);
  let saveCmd = cmd;
  if (args.length) {
    // the build args that make the cache key go before the command ("|N K=V ..."), as dockerd does
    const keyed = args.filter((e) => s.buildArgs.isReferencedOrNotBuiltin(e.split('=')[0]!)).sort();
    saveCmd = [`|${keyed.length}`, ...keyed, ...cmd];
  }
  const forProbe = copyRunConfig(rc, { Cmd: saveCmd, ...(saveCmd.length ? { Entrypoint: null } : {}) });
  if (await probe(d, s, forProbe)) return;
  const runCfg = copyRunConfig(rc, {
    Cmd: cmd, Env: [...(rc.Env ?? []), ...args], ArgsEscaped: true,
    ...(saveCmd.length ? { Entrypoint: [''] } : {}),
    // a RUN step is no service: the image's healthcheck does not probe it
    Healthcheck: { Test: ['NONE'] },
  });
  const id = await d.containers.create(runCfg, d.host);
  const code = await d.containers.run(id, d.signal);
  if (d.signal.aborted) throw new Error('Build cancelled');
  if (code !== 0) throw new StepError(`The command '${cmd.join(' ')}' returned a non-zero code: ${code}`, code);
  await commitContainer(d, s, id, forProbe);
}

async function copy(d: DispatchContext, s: StageState, c: Extract<Command, { kind: 'add' | 'copy' }>, env: string[]): Promise<void> {
  const what = c.kind.toUpperCase();
  // dockerd's classic builder (dispatchCopy / dispatchAdd's errChmod)
  if (c.chmod) throw invalidArgument('the --chmod option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled');
  const word = (w: string) => d.lex.processWord(w, env);
  const sourcesWords = c.sources.map(word);
  const dest = word(c.dest);
  const chown = c.chown ? word(c.chown) : '';
  const src = await d.sources(c.from);
  let downloads: string | undefined;
  const fetch = async (url: string) => downloadSource(url, downloads ??= await fs.mkdtemp(path.join(d.workDir, 'add-')), dest);
  try {
    const resolved = await resolveSources(src.root, sourcesWords, dest, what, src.fromImage, c.kind === 'add' ? fetch : undefined);
    const comment = `${what} ${chown ? `--chown=${chown}` : ''}${resolved.hash} in ${dest} `;
    const cfg = withCmdCommentString(s.runConfig, comment);
    if (await probe(d, s, cfg)) return;
    const base = s.imageId ? await d.be.images.get(s.imageId) : null;
    const scratch = await openScratch(d.be.driver, base?.chainIds ?? []);
    try {
      const identity = chown ? await parseChown(scratch.root, chown) : { uid: 0, gid: 0 };
      // COPY --from without --chown keeps the files' owners (dockerd's preserveOwnership for an image source)
      const preserve = src.fromImage && !chown;
      await copyInto(scratch.root, resolved.sources, dest, { workdir: s.runConfig.WorkingDir, identity, preserveOwners: preserve, decompress: c.kind === 'add' });
      await commitLayer(d, s, await scratch.diff(), '', cfg);
    } finally {
      await scratch.release();
    }
  } finally {
    await src.release();
    if (downloads) await fs.rm(downloads, { recursive: true, force: true });
  }
}

/** EXPOSE's port specs as docker's nat.ParsePortSpecs reads them ("80", "53/udp", "8000-8002"). */
function exposedPorts(specs: string[]): string[] {
  const out: string[] = [];
  for (const spec of specs) {
    const m = /^(?:.*:)?(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(spec);
    if (!m) throw invalidArgument(`Invalid containerPort: ${spec}`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    if (hi < lo || hi > 65535) throw invalidArgument(`Invalid containerPort: ${spec}`);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

/** Carry out one command on the stage (the caller prints the step and the resulting id). */
export async function dispatch(d: DispatchContext, s: StageState, c: Command): Promise<void> {
  const rc = s.runConfig;
  const env = [...(rc.Env ?? []), ...s.buildArgs.filterAllowed(rc.Env ?? [])];
  const word = (w: string) => { try { return d.lex.processWord(w, env); } catch (e) { throw invalidArgument((e as Error).message); } };
  switch (c.kind) {
    case 'env': {
      let e = rc.Env ?? [];
      const parts: string[] = [];
      for (const [k, v] of c.pairs) {
        const key = word(k);
        const val = word(v);
        e = setEnvEntry(e, `${key}=${val}`);
        parts.push(`${key}=${val}`);
      }
      rc.Env = e;
      return commit(d, s, `ENV ${parts.join(' ')}`);
    }
    case 'label': {
      rc.Labels ??= {};
      const parts: string[] = [];
      const expand = c.noExpand ? (w: string) => w : word;
      for (const [k, v] of c.pairs) {
        const key = expand(k);
        const val = expand(v);
        rc.Labels[key] = val;
        parts.push(`${key}=${val}`);
      }
      return commit(d, s, `LABEL ${parts.join(' ')}`);
    }
    case 'maintainer':
      s.maintainer = c.text;
      return commit(d, s, `MAINTAINER ${c.text}`);
    case 'add': case 'copy': return copy(d, s, c, env);
    case 'onbuild':
      rc.OnBuild = [...(rc.OnBuild ?? []), c.expression];
      return commit(d, s, `ONBUILD ${c.expression}`);
    case 'workdir': {
      const p = word(c.path);
      // dockerd's normalizeWorkdir: an absolute path as written, a relative one joined and cleaned
      rc.WorkingDir = p.startsWith('/') ? p : path.posix.join('/', rc.WorkingDir || '/', p).replace(/(.)\/+$/, '$1');
      // the container's create makes the directory; its changes are the step's layer
      return commit(d, s, `WORKDIR ${rc.WorkingDir}`, true);
    }
    case 'run': return run(d, s, c);
    case 'cmd': {
      const cmd = resolveCmdLine(c, rc);
      rc.Cmd = cmd;
      rc.ArgsEscaped = true;
      await commit(d, s, `CMD ${goQuoteList(cmd)}`);
      if (c.cmdLine.length) s.cmdSet = true;
      return;
    }
    case 'entrypoint': {
      const ep = resolveCmdLine(c, rc);
      rc.Entrypoint = ep;
      if (!s.cmdSet) rc.Cmd = null;
      return commit(d, s, `ENTRYPOINT ${goQuoteList(ep)}`);
    }
    case 'healthcheck': {
      const old = rc.Healthcheck?.Test;
      if (old?.length && old[0] !== 'NONE') d.out.stdout(`Note: overriding previous HEALTHCHECK: ${goList(old)}\n`);
      rc.Healthcheck = c.health;
      return commit(d, s, healthComment(c.health));
    }
    case 'expose': {
      const ports = c.ports.flatMap((p) => d.lex.processWords(p, env));
      rc.ExposedPorts ??= {};
      for (const p of exposedPorts(ports)) rc.ExposedPorts[p] = {};
      return commit(d, s, `EXPOSE ${ports.join(' ')}`);
    }
    case 'user':
      rc.User = word(c.user);
      return commit(d, s, `USER ${rc.User}`);
    case 'volume': {
      rc.Volumes ??= {};
      const vols = c.volumes.map(word);
      for (const v of vols) {
        if (!v) throw invalidArgument('VOLUME specified can not be an empty string');
        rc.Volumes[v] = {};
      }
      return commit(d, s, `VOLUME ${goList(vols)}`);
    }
    case 'stopsignal': {
      const sig = word(c.signal);
      parseSignal(sig);
      rc.StopSignal = sig;
      return commit(d, s, `STOPSIGNAL ${sig}`);
    }
    case 'arg': {
      const parts: string[] = [];
      for (const a of c.args) {
        const value = a.value === undefined ? undefined : word(a.value);
        s.buildArgs.addArg(a.key, value);
        parts.push(value === undefined ? a.key : `${a.key}=${value}`);
      }
      return commit(d, s, `ARG ${parts.join(' ')}`);
    }
    case 'shell':
      rc.Shell = [...c.shell];
      return commit(d, s, `SHELL ${goList(c.shell)}`);
  }
}

