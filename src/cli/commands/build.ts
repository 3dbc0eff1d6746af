// `tsula build`: the docker 20.10 CLI's classic build. The context directory is sent as a
// tar (what .dockerignore excludes left out, the Dockerfile and .dockerignore always in, as
// docker sends them), or a tar from stdin with `-`; the answer is dockerd's JSON-lines
// stream, printed as docker prints it. A step that failed ends the command with its code
// (a RUN's exit status), as docker's JSONError does.
import { lstatSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import type { CommandSpec, FlagSpec, Parsed } from '../args.js';
import { StatusError, type Cli } from '../context.js';
import { displayJsonMessages, JsonMessageError } from '../jsonmessage.js';
import { humanSize } from '../units.js';
import { bytes, UPDATE_RESOURCE_FLAGS } from './resource-opts.js';

/** run's resource flags by name, in this order. */
const runFlags = (...names: string[]): FlagSpec[] => names.map((n) => UPDATE_RESOURCE_FLAGS.find((f) => f.long === n)!);

export const spec: CommandSpec = {
  name: 'build',
  usage: '[OPTIONS] PATH | -',
  desc: 'Build an image from a Dockerfile',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { long: 'tag', short: 't', kind: 'list', desc: 'Name and optionally a tag in the \'name:tag\' format' },
    { long: 'file', short: 'f', kind: 'string', desc: 'Name of the Dockerfile (Default is \'PATH/Dockerfile\')' },
    { long: 'build-arg', kind: 'list', desc: 'Set build-time variables' },
    { long: 'label', kind: 'list', desc: 'Set metadata for an image' },
    { long: 'target', kind: 'string', desc: 'Set the target build stage to build.' },
    { long: 'no-cache', kind: 'bool', desc: 'Do not use cache when building the image' },
    { long: 'pull', kind: 'bool', desc: 'Always attempt to pull a newer version of the image' },
    { long: 'platform', kind: 'string', desc: 'Set platform if server is multi-platform capable' },
    { long: 'rm', kind: 'bool', desc: 'Remove intermediate containers after a successful build (default true)' },
    { long: 'force-rm', kind: 'bool', desc: 'Always remove intermediate containers' },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress the build output and print image ID on success' },
    { long: 'network', kind: 'string', desc: 'Set the networking mode for the RUN instructions during build (default "default")' },
    { long: 'add-host', kind: 'list', desc: 'Add a custom host-to-IP mapping (host:ip)' },
    // the RUN steps' containers' resources, as docker build sends them (its query's names below):
    // run's flags, but for the CFS ones' wording
    ...runFlags('memory', 'memory-swap', 'cpu-shares'),
    { long: 'cpu-period', kind: 'int', desc: 'Limit the CPU CFS (Completely Fair Scheduler) period', meta: 'int' },
    { long: 'cpu-quota', kind: 'int', desc: 'Limit the CPU CFS (Completely Fair Scheduler) quota', meta: 'int' },
    ...runFlags('cpuset-cpus', 'cpuset-mems'),
    { long: 'shm-size', kind: 'string', desc: 'Size of /dev/shm', meta: 'bytes' },
    { long: 'cgroup-parent', kind: 'string', desc: 'Optional parent cgroup for the container', meta: 'string' },
    { long: 'iidfile', kind: 'string', desc: 'Write the image ID to the file', meta: 'string' },
    { long: 'cache-from', kind: 'list', desc: 'Images to consider as cache sources', meta: 'strings' },
    { long: 'security-opt', kind: 'list', desc: 'Security options', meta: 'strings' },
    { long: 'squash', kind: 'bool', desc: 'Squash newly built layers into a single new layer' },
  ],
};

/** A size flag, left out of the query when not given. */
const sizeFlag = (p: Parsed, flag: string): number | undefined => bytes(p, flag, 'build') || undefined;

/** docker's --build-arg: KEY=VALUE, or KEY alone for the value in our environment (left out when unset). */
export function buildArgsJson(args: string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const out: Record<string, string> = {};
  for (const a of args) {
    const i = a.indexOf('=');
    if (i >= 0) out[a.slice(0, i)] = a.slice(i + 1);
    else if (env[a] !== undefined) out[a] = env[a]!;
  }
  return Object.keys(out).length ? JSON.stringify(out) : undefined;
}

function labelsJson(labels: string[]): string | undefined {
  if (!labels.length) return undefined;
  return JSON.stringify(Object.fromEntries(labels.map((l) => {
    const i = l.indexOf('=');
    return i >= 0 ? [l.slice(0, i), l.slice(i + 1)] : [l, ''];
  })));
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const { Transform } = await import('node:stream');
  const ctxArg = p.args[0]!;
  let body: import('node:stream').Readable;
  let dockerfile = p.str('file');
  if (dockerfile === '-') throw new StatusError(1, 'tsula build -f - (the Dockerfile on stdin beside a context directory) is not supported: save it in the context and name it with -f');
  if (ctxArg === '-') {
    if (cli.in.isTTY) throw new StatusError(1, 'the build context on stdin: pipe a tar archive or a Dockerfile in (tsula build - < Dockerfile)');
    body = await stdinContext(cli.in as unknown as import('node:stream').Readable);
  } else {
    ({ body, dockerfile } = await contextTar(ctxArg, dockerfile));
  }
  // counted as it goes, for docker's "Sending build context" line
  let sent = 0;
  const counted = body.pipe(new Transform({ transform(chunk: Buffer, _e, cb) { sent += chunk.length; cb(null, chunk); } }));
  const quiet = p.bool('quiet');
  // docker removes an old one first: a failed build leaves none behind
  const iidfile = p.str('iidfile');
  if (iidfile) await rm(iidfile).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw new StatusError(1, `Removing image ID file: ${e.message}`); });
  const res = await cli.client.request({
    method: 'POST', path: '/build', contentType: 'application/x-tar', body: counted,
    query: {
      t: p.list('tag'), dockerfile, buildargs: buildArgsJson(p.list('build-arg')), labels: labelsJson(p.list('label')),
      target: p.str('target'), nocache: p.bool('no-cache') || undefined, pull: p.bool('pull') || undefined,
      // lower-cased, as docker's client sends it
      platform: p.str('platform')?.toLowerCase(),
      rm: p.has('rm') ? p.bool('rm') : true, forcerm: p.bool('force-rm') || undefined, q: quiet || undefined,
      networkmode: p.str('network'), extrahosts: p.list('add-host'),
      memory: sizeFlag(p, 'memory'), memswap: sizeFlag(p, 'memory-swap'), shmsize: sizeFlag(p, 'shm-size'),
      cpushares: p.num('cpu-shares'), cpuperiod: p.num('cpu-period'), cpuquota: p.num('cpu-quota'),
      cpusetcpus: p.str('cpuset-cpus'), cpusetmems: p.str('cpuset-mems'), cgroupparent: p.str('cgroup-parent'),
      cachefrom: p.list('cache-from').length ? JSON.stringify(p.list('cache-from')) : undefined,
      securityopt: p.list('security-opt'), squash: p.bool('squash') || undefined,
    },
  });
  if (!quiet && ctxArg !== '-') cli.out.write(`Sending build context to Docker daemon  ${humanSize(sent)}\n`);
  let shown: Awaited<ReturnType<typeof displayJsonMessages>>;
  try {
    shown = await displayJsonMessages(res, { out: cli.out, tty: !!cli.out.isTTY });
  } catch (err) {
    if (!(err instanceof JsonMessageError)) throw err;
    // docker: the failed step's code (a RUN's status) is the command's, 1 when it has none
    throw new StatusError(err.code || 1, err.message);
  }
  if (iidfile) {
    // docker's: with -q what the daemon printed (its aux messages are held back then, as
    // dockerd's), else the last aux message's ID (each stage's image comes as one)
    const id = quiet ? shown.streams.join('')
      : [...shown.aux].reverse().map((a) => (a as { ID?: unknown } | null)?.ID).find((x): x is string => typeof x === 'string');
    if (!id) throw new StatusError(1, `Server did not provide an image ID. Cannot write ${iidfile}`);
    await writeFile(iidfile, id, { mode: 0o666 });
  }
  return 0;
}

/**
 * The context directory as a tar: .dockerignore's exclusions left out (not the Dockerfile
 * or .dockerignore themselves). `-f` names a file inside the context (relative to the
 * current directory, as docker takes it); the name sent is its path in the context.
 */
function isDirSync(p: string): boolean {
  try { return lstatSync(p).isDirectory(); } catch { return false; }
}

async function contextTar(dir: string, file: string | undefined): Promise<{ body: import('node:stream').Readable; dockerfile: string | undefined }> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new StatusError(1, `unable to prepare context: path "${dir}" not found`);
  let dockerfile: string | undefined;
  if (file) {
    const rel = path.relative(path.resolve(dir), path.resolve(file));
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new StatusError(1, `the Dockerfile (${file}) must be within the build context (${dir})`);
    dockerfile = rel.split(path.sep).join('/');
  }
  const { PatternMatcher, readDockerignore } = await import('../../engine/build/dockerignore.js');
  const ignore = await fs.readFile(path.join(dir, '.dockerignore'), 'utf8').catch(() => '');
  const pm = new PatternMatcher(readDockerignore(ignore));
  const always = new Set(['.dockerignore', dockerfile ?? 'Dockerfile']);
  // the engine's own tar writer (node-tar's Pack loses or doubles its end with hard links,
  // node-tar#460: pnpm's node_modules), owned by 0:0 as docker's context (ChownOpts)
  const { packItems, walkTree } = await import('../../storage/tarpack.js');
  const { Readable } = await import('node:stream');
  async function* items() {
    for await (const it of walkTree(dir, '', (rel) => {
      // an excluded directory may hold exceptions (`!`): walked, the daemon drops the rest;
      // skip() leaves out a whole subtree, so a directory is kept when exclusions exist
      if (pm.empty || always.has(rel)) return false;
      return pm.matches(rel) && !(pm.hasExclusions && isDirSync(path.join(dir, rel)));
    })) if (it.rel !== '') yield it;
  }
  const body = Readable.from(packItems(items(), { uid: 0, gid: 0 }), { objectMode: false });
  return { body, dockerfile };
}

/**
 * `-`: a tar (plain or compressed) as it is; anything else is a Dockerfile alone, sent as a
 * context holding only it (docker's GetContextFromReader).
 */
async function stdinContext(input: import('node:stream').Readable): Promise<import('node:stream').Readable> {
  const { peek, detectCompression } = await import('../../image/stream-head.js');
  const { head, stream } = await peek(input, 512);
  const tarMagic = head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
  if (tarMagic || detectCompression(head) !== 'none') return stream;
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const fs = await import('node:fs/promises');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-build-'));
  await fs.writeFile(path.join(dir, 'Dockerfile'), Buffer.concat(chunks));
  const tar = await import('tar');
  const out = tar.c({ cwd: dir, portable: true }, ['Dockerfile']) as unknown as import('node:stream').Readable;
  out.once('end', () => void fs.rm(dir, { recursive: true, force: true }));
  out.once('error', () => void fs.rm(dir, { recursive: true, force: true }));
  return out;
}
