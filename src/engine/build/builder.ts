// A build, as dockerd 20.10's legacy builder runs one (builder/dockerfile/builder.go):
// the context unpacked, the Dockerfile parsed and checked whole, the meta args, then each
// stage up to --target: "Step N/M : <instruction>", the step, " ---> <image id>"; the
// containers a step made removed after it (rm, the default; also after a failure with
// forcerm); an aux message with each stage's image; the unused build-arg warning; then
// "Successfully built" and "Successfully tagged" for each -t. Each step's image is the
// parent of the next (what `docker images -a` lists and the cache finds again). The build's
// platform is every FROM's that has no --platform of its own: a local image of another
// platform is not used but pulled for it (the graphdriver store's GetImage and
// pullForBuilder), as is an image COPY --from names.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { errorMessage, invalidArgument, isKind, notFound } from '../../common/errors.js';
import { imagePlatform, parsePlatformSpecifier, platformMatches } from '../../image/platforms.js';
import { formatPlatform, type Platform } from '../../image/registry/manifest.js';
import type { ImageRecord } from '../../image/types.js';
import type { EventBus } from '../events.js';
import { logImageEvent } from '../image-events.js';
import { BuildArgs } from './buildargs.js';
import { BuildCache } from './cache.js';
import { applyDockerignore, extractContext, readDockerfile } from './context.js';
import { dispatch, type DispatchContext, type SourceOf, type StageState } from './dispatch.js';
import { commandOf, stagesToBuild, toInstructions, type Command, type Stage } from './instructions.js';
import type { BuildOutput } from './output.js';
import { nodeFromLine, parseDockerfile } from './parser.js';
import { runConfigFromImage, shortImageId } from './runconfig.js';
import { ShellLex } from './shell-lex.js';
import { openScratch, StepContainers, type BuildBackend, type StepHostConfig } from './steps.js';

export interface BuildOptions {
  dockerfile: string;
  /** Familiar names (name:tag), checked by the caller. */
  tags: string[];
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  noCache: boolean;
  /** Image names the cache may take steps from (dockerd's cache-from); empty: every local image. */
  cacheFrom: string[];
  remove: boolean;
  forceRemove: boolean;
  pull: boolean;
  target: string;
  /** The build's platform as the client sent it ('' for none), parsed once the Dockerfile is. */
  platform: string;
  host: StepHostConfig;
}

interface StageResult { name: string; imageId: string }

export class Builder {
  constructor(private readonly be: BuildBackend, private readonly events: EventBus, private readonly workRoot: string) {}

  /** Run a build from `context` (a tar); returns the image id. */
  async build(context: Readable, o: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> {
    await fs.mkdir(this.workRoot, { recursive: true, mode: 0o700 });
    const dir = await fs.mkdtemp(path.join(this.workRoot, 'ctx-'));
    try {
      await extractContext(context, dir);
      const df = await readDockerfile(dir, o.dockerfile || 'Dockerfile');
      await applyDockerignore(dir);
      return await this.run(dir, df.text, o, out, signal);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  private async run(ctxDir: string, text: string, o: BuildOptions, out: BuildOutput, signal: AbortSignal): Promise<string> {
    const parsed = parseDockerfile(text);
    // dockerd's newBuilder parses the platform after the Dockerfile, before its instructions
    const platform = o.platform ? parsePlatformSpecifier(o.platform) : undefined;
    const instructions = toInstructions(parsed);
    const metaArgs = instructions.metaArgs;
    const stages = stagesToBuild(instructions.stages, o.target, o.labels);
    for (const w of parsed.warnings) out.stderr(`${w}\n`);
    const lex = new ShellLex(parsed.escape);
    const args = BuildArgs.fromJson(o.buildArgs);
    const total = metaArgs.length + stages.length + stages.reduce((n, s) => n + s.commands.length, 0);
    let step = 1;
    const print = (original: string) => out.stdout(`Step ${step++}/${total} : ${original}\n`);
    for (const meta of metaArgs) {
      print(meta.original);
      const env = [...args.allAllowed()].map(([k, v]) => `${k}=${v}`);
      for (const a of meta.args) {
        const value = a.value === undefined ? undefined : lex.processWord(a.value, env);
        args.addArg(a.key, value);
        args.addMetaArg(a.key, value);
      }
    }
    const containers = new StepContainers(this.be, out);
    const results: StageResult[] = [];
    let last: StageState | null = null;
    try {
      for (const stage of stages) {
        if (stage.name && results.some((r) => r.name === stage.name)) throw invalidArgument(`duplicate name ${stage.name}`);
        const ctx: DispatchContext = {
          be: this.be, out, lex, containers, host: o.host, signal,
          cache: o.noCache ? null : new BuildCache(this.be.images, o.cacheFrom),
          sources: this.sourcesFor(ctxDir, results, o, platform, out), workDir: this.workRoot,
        };
        print(stage.original);
        const state = await this.beginStage(ctx, stage, args.forStage(), results, o, platform);
        // the base image's ONBUILD triggers are part of its FROM step
        if (state.runConfig.OnBuild?.length) await this.triggers(ctx, state, parsed.escape, o);
        state.runConfig.Image = state.imageId;
        out.stdout(` ---> ${shortImageId(state.imageId)}\n`);
        for (const cmd of stage.commands) {
          if (signal.aborted) { out.stdout('Build cancelled\n'); throw new Error('Build cancelled'); }
          print(cmd.original);
          await this.step(ctx, state, cmd, o);
          state.runConfig.Image = state.imageId;
          out.stdout(` ---> ${shortImageId(state.imageId)}\n`);
        }
        if (state.imageId) out.aux(state.imageId);
        args.mergeReferenced(state.buildArgs);
        results.push({ name: stage.name, imageId: state.imageId });
        last = state;
      }
    } catch (e) {
      if (signal.aborted) await containers.removeQuietly();
      throw e;
    }
    const warning = args.unusedWarning();
    if (warning) out.stdout(warning);
    if (!last?.imageId) throw invalidArgument('No image was generated. Is your Dockerfile empty?');
    out.stdout(`Successfully built ${shortImageId(last.imageId)}\n`);
    for (const t of o.tags) {
      await this.be.images.tag(last.imageId, t);
      await logImageEvent(this.events, this.be.images, 'tag', last.imageId, t);
      out.stdout(`Successfully tagged ${t}\n`);
    }
    return last.imageId;
  }

  /** One step, its containers removed after it as rm/forcerm say (dockerd's dispatch defer). */
  private async step(ctx: DispatchContext, state: StageState, cmd: Command, o: BuildOptions): Promise<void> {
    let ok = false;
    try {
      await dispatch(ctx, state, cmd);
      ok = true;
    } finally {
      if (!ctx.signal.aborted && (o.forceRemove || (o.remove && ok))) await ctx.containers.removeAll();
    }
  }

  /** ONBUILD triggers of the base image, run before the stage's own steps. */
  private async triggers(ctx: DispatchContext, state: StageState, escape: string, o: BuildOptions): Promise<void> {
    const triggers = state.runConfig.OnBuild ?? [];
    state.runConfig.OnBuild = null;
    ctx.out.stdout(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
    for (const t of triggers) {
      state.runConfig.Image = state.imageId;
      const node = { ...nodeFromLine(t, escape), startLine: 0, endLine: 0 };
      let cmd: Command;
      try { cmd = commandOf(node); } catch (e) { throw invalidArgument((e as Error).message); }
      await this.step(ctx, state, cmd, o);
    }
  }

  /**
   * FROM: a previous stage, scratch, or an image (pulled when missing, of another platform
   * or with --pull); its --platform (meta args expanded) else the build's.
   */
  private async beginStage(ctx: DispatchContext, stage: Stage, args: BuildArgs, results: StageResult[], o: BuildOptions, buildPlatform: Platform | undefined): Promise<StageState> {
    const meta = [...args.allMeta()].map(([k, v]) => `${k}=${v}`);
    let platform = buildPlatform;
    if (stage.platform) {
      // initializeStage's words (its failed expansion names the empty result, as Go's shadowed v does)
      let v: string;
      try { v = ctx.lex.processWord(stage.platform, meta); } catch (e) { throw invalidArgument(`failed to process arguments for platform : ${errorMessage(e)}`); }
      try { platform = parsePlatformSpecifier(v); } catch (e) { throw invalidArgument(`failed to parse platform ${v}: ${errorMessage(e)}`); }
    }
    const name = ctx.lex.processWord(stage.baseName, meta);
    const state: StageState = { imageId: '', runConfig: runConfigFromImage(undefined), maintainer: '', cmdSet: false, buildArgs: args, cacheBusted: false };
    const prev = results.find((r) => r.name && r.name === name.toLowerCase());
    let imageId = prev?.imageId ?? '';
    // a stage's image is only looked at, never pulled: of another platform, it is an error
    if (prev?.imageId) await this.localImage(prev.imageId, platform);
    if (!prev && name !== 'scratch') imageId = await this.image(name, o.pull, ctx.out, platform);
    if (imageId) {
      const blob = await this.be.images.configBlob(imageId);
      state.runConfig = runConfigFromImage(blob?.config as Record<string, unknown> | undefined);
    }
    state.imageId = imageId;
    state.runConfig.Image = imageId;
    return state;
  }

  /**
   * A named image: the local one (of the platform, when one is wanted), or pulled (its
   * progress in the build's output) for that platform.
   */
  private async image(name: string, pull: boolean, out: BuildOutput, platform: Platform | undefined): Promise<string> {
    if (!pull) {
      try { return (await this.localImage(name, platform)).id; } catch (e) { if (!isKind(e, 'NotFound')) throw e; }
    }
    await this.be.images.pull(name, { onProgress: (p) => out.raw({ ...p }), ...(platform ? { platform: formatPlatform(platform) } : {}) });
    return (await this.localImage(name, platform)).id;
  }

  /** dockerd's GetImage with a platform: the image, or NotFound when it is of another one. */
  private async localImage(ref: string, platform: Platform | undefined): Promise<ImageRecord> {
    const img = await this.be.images.get(ref);
    if (!platform) return img;
    const have = imagePlatform(img, await this.be.images.configBlob(img.id).catch(() => null));
    if (platformMatches(platform, have)) return img;
    throw notFound(`image with reference ${ref} was found but its platform (${formatPlatform(have)}) does not match the specified platform (${formatPlatform(platform)})`);
  }

  /** COPY's sources: the context, or --from a stage (by name or index) or an image. */
  private sourcesFor(ctxDir: string, results: StageResult[], o: BuildOptions, platform: Platform | undefined, out: BuildOutput): SourceOf {
    return async (from) => {
      if (!from) return { root: ctxDir, release: async () => {}, fromImage: false };
      let imageId: string;
      const byIndex = /^\d+$/.test(from) ? results[Number(from)] : undefined;
      const byName = results.find((r) => r.name && r.name === from.toLowerCase());
      try {
        // dockerd's validateIndex: the stage being built, or one not there at all
        if (/^\d+$/.test(from) && !byIndex) throw invalidArgument(Number(from) === results.length ? 'refers to current build stage' : 'index out of bounds');
        // the build's platform (getImageMount: a stage's image is only checked, an image pulled)
        const stage = byIndex ?? byName;
        if (stage?.imageId) await this.localImage(stage.imageId, platform);
        imageId = stage?.imageId ?? await this.image(from, o.pull, out, platform);
      } catch (e) {
        throw invalidArgument(`invalid from flag value ${from}: ${(e as Error).message}`);
      }
      const chain = imageId ? (await this.be.images.get(imageId)).chainIds : [];
      const scratch = await openScratch(this.be.driver, chain);
      return { root: scratch.root, release: () => scratch.release(), fromImage: true };
    };
  }
}

