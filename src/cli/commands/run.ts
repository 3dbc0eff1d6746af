// `tsula run` and `tsula create`, in the order the docker CLI uses so nothing is lost:
// create (pulling a missing image), attach, register the wait, start, resize, pump the
// streams, then exit with the container's status.
import { byFlagName, UsageError, type CommandSpec, type Parsed } from '../args.js';
import { monitorSize, pump, ttySize } from '../attachio.js';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../../common/detachkeys.js';
import { ApiError, readBody, seg, versionFor, type Hijacked } from '../client.js';
import { errorText, type Cli } from '../context.js';
import { buildCreate, CONTAINER_FLAGS, RUN_ONLY_FLAGS, type CreateRequest } from './container-opts.js';

export const runSpec: CommandSpec = {
  name: 'run',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  desc: 'Create and run a new container from an image',
  flags: [...CONTAINER_FLAGS, ...RUN_ONLY_FLAGS].sort(byFlagName),
  interspersed: false,
  minArgs: 1,
};

export const createSpec: CommandSpec = {
  name: 'create',
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  desc: 'Create a new container',
  flags: CONTAINER_FLAGS,
  interspersed: false,
  minArgs: 1,
};

/** docker's runStartContainerErr: 127 for a missing command, 126 for one that cannot run. */
export function startExitCode(err: unknown): number {
  const msg = errorText(err);
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) return 127;
  if (/permission denied|is a directory/.test(msg)) return 126;
  return 125;
}

/**
 * docker's reportError for run and create: "tsula: <message>." and, for what failed before
 * the container was there, where the help is.
 */
export function reportError(cli: Cli, name: string, message: string, withHelp: boolean): void {
  const text = `${message.endsWith('.') ? message.slice(0, -1) : message}.`;
  cli.warn(`tsula: ${text}${withHelp ? `\nSee 'tsula ${name} --help'.` : ''}`);
}

/**
 * buildCreate, its refusals reported as docker's parse() errors are (reportError, 125); a
 * flag's bad value (pflag's `invalid argument "…" for "…" flag: …`) and a StatusError go
 * up as they are.
 */
function parseCreate(cli: Cli, p: Parsed, name: 'run' | 'create', detach: boolean): CreateRequest | undefined {
  try {
    return buildCreate(p, { detach, run: name === 'run' });
  } catch (err) {
    if (!(err instanceof UsageError) || err.exitCode !== 125 || err.message.startsWith('invalid argument "')) throw err;
    reportError(cli, name, err.message, true);
    return undefined;
  }
}

/** docker's cidFile: refused when the file is there already, removed again when no ID was written. */
async function withCidFile<T extends string>(path: string | undefined, create: () => Promise<T>): Promise<T> {
  if (!path) return create();
  const fs = await import('node:fs/promises');
  if (await fs.stat(path).then(() => true, () => false)) {
    throw new Error(`container ID file found, make sure the other container isn't running or delete ${path}`);
  }
  const fh = await fs.open(path, 'w').catch((err: Error) => { throw new Error(`Failed to create the container ID file: ${err.message}`); });
  let id: T | undefined;
  try {
    id = await create();
    await fh.writeFile(id);
    return id;
  } finally {
    await fh.close();
    if (id === undefined) await fs.rm(path, { force: true });
  }
}

/** POST /containers/create, pulling the image first when the daemon does not have it. */
export function createContainer(cli: Cli, req: CreateRequest, p: Parsed): Promise<string> {
  return withCidFile(p.str('cidfile'), () => createOrPull(cli, req, p));
}

async function createOrPull(cli: Cli, req: CreateRequest, p: Parsed): Promise<string> {
  const image = String(req.body.Image);
  const pull = p.str('pull') ?? 'missing';
  if (!['always', 'missing', 'never'].includes(pull)) {
    throw new Error(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`);
  }
  const pullOpts = { quiet: p.bool('quiet'), platform: req.platform };
  // loaded only to pull: the registry and credential code is most of a `run`'s modules
  const pullImage = async (...a: Parameters<typeof import('./pull.js').pullImage>) => (await import('./pull.js')).pullImage(...a);
  if (pull === 'always') await pullImage(cli, image, cli.err, pullOpts);
  // StartInterval came in API 1.44 (docker's flag is annotated so); below it dockerd drops it
  const health = req.body.Healthcheck as { StartInterval?: number } | undefined;
  let version = req.apiVersion ?? (health?.StartInterval ? '1.44' : undefined);
  // docker's createContainer: a TTY starts at our terminal's size (API 1.42's ConsoleSize)
  const size = req.body.Tty ? ttySize(cli) : undefined;
  if (size) {
    (req.body.HostConfig as Record<string, unknown>).ConsoleSize = size;
    version = versionFor('1.42', version);
  }
  const create = () => cli.client.json<{ Id: string; Warnings?: string[] | null }>(
    'POST', '/containers/create', { name: req.name, platform: req.platform }, req.body, version);
  let res: { Id: string; Warnings?: string[] | null };
  try {
    res = await create();
  } catch (err) {
    // docker's createContainer pulls on any NotFound of a named image (a platform the local
    // image lacks is one), not for an image id
    if (!(err instanceof ApiError) || err.status !== 404 || pull !== 'missing' || /^(sha256:)?[0-9a-f]{64}$/.test(image)) throw err;
    // quiet means quiet: docker says nothing of the pull either
    if (!pullOpts.quiet) cli.warn(`Unable to find image '${(await import('../reference.js')).withDefaultTag(image)}' locally`);
    await pullImage(cli, image, cli.err, pullOpts);
    res = await create();
  }
  for (const w of res.Warnings ?? []) cli.warn(`WARNING: ${w}`);
  return res.Id;
}

export async function create(cli: Cli, p: Parsed): Promise<number> {
  // docker's create parses as run does without -d: the streams a later start -a attaches
  const req = parseCreate(cli, p, 'create', false);
  if (!req) return 125;
  // docker's create returns the daemon's error as it is: printed plain, exit 1
  cli.print(await createContainer(cli, req, p));
  return 0;
}

/** The pending answer of POST /containers/{id}/wait. */
export interface Waiter {
  result: Promise<number>;
  /** Drop the pending wait (after a detach), so no open request keeps tsula alive. */
  cancel(): void;
}

/**
 * Register a wait before starting, as docker does: the daemon answers the head once the
 * wait is registered and the body at exit, so a fast process cannot exit unseen. A daemon
 * that holds the head back is still served, after a short grace period.
 */
export async function waitFor(cli: Cli, id: string, condition: string): Promise<Waiter> {
  const resP = cli.client.request({ method: 'POST', path: `/containers/${seg(id)}/wait`, query: { condition } });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    resP.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        cli.debugLog('wait: no response head after 1s; starting anyway');
        resolve();
      }, 1000);
    }),
  ]);
  clearTimeout(timer);
  let cancelled = false;
  const result = resP.then(async (res) => {
    const body = JSON.parse((await readBody(res)).toString('utf8') || '{}') as { StatusCode?: number; Error?: { Message?: string } | null };
    if (body.Error?.Message) cli.warn(`Error waiting for container: ${body.Error.Message}`);
    return body.StatusCode ?? 125;
  }).catch((err: unknown) => {
    if (!cancelled) cli.warn(`Error waiting for container: ${errorText(err)}`);
    return 125;
  });
  const cancel = () => {
    cancelled = true;
    resP.then((res) => res.destroy(), () => undefined);
  };
  return { result, cancel };
}

/** Forward the signals a user sends us to the container (docker's --sig-proxy); returns the undo. */
export function proxySignals(cli: Cli, id: string): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = signals.map((sig) => {
    const h = () => {
      cli.client.call('POST', `/containers/${seg(id)}/kill`, { signal: sig })
        .catch((err: unknown) => cli.debugLog(`forwarding ${sig}: ${errorText(err)}`));
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => handlers.forEach(([sig, h]) => process.off(sig, h));
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const detach = p.bool('detach');
  const req = parseCreate(cli, p, 'run', detach);
  if (!req) return 125;
  const cfg = req.body as { Tty: boolean; AttachStdin: boolean; AttachStdout: boolean; AttachStderr: boolean; HostConfig: { AutoRemove: boolean } };
  if (!detach && cfg.Tty && cfg.AttachStdin && !cli.in.isTTY) {
    cli.warn('the input device is not a TTY');
    return 1;
  }
  let detachKeys: Buffer = DEFAULT_DETACH_KEYS;
  const dk = p.str('detach-keys');
  if (dk) detachKeys = parseDetachKeys(dk);

  let id: string;
  try {
    id = await createContainer(cli, req, p);
  } catch (err) {
    reportError(cli, 'run', errorText(err), true);
    return startExitCode(err);
  }
  const startIt = () => cli.client.call('POST', `/containers/${seg(id)}/start`);
  if (detach) {
    // docker prints the ID once the container is created, before it is started
    cli.print(id);
    try {
      await startIt();
    } catch (err) {
      reportError(cli, 'run', errorText(err), false);
      return startExitCode(err);
    }
    return 0;
  }

  let conn: Hijacked | undefined;
  let waiter: Waiter;
  // the attach and the wait are both in place before the start; neither needs the other
  const attaching = cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr
    ? cli.client.hijack('POST', `/containers/${seg(id)}/attach`, {
      stream: 1,
      stdin: cfg.AttachStdin ? 1 : undefined,
      stdout: cfg.AttachStdout ? 1 : undefined,
      stderr: cfg.AttachStderr ? 1 : undefined,
      detachKeys: dk || undefined,
    })
    : Promise.resolve(undefined);
  const waiting = waitFor(cli, id, cfg.HostConfig.AutoRemove ? 'removed' : 'next-exit');
  const [a, w] = await Promise.allSettled([attaching, waiting]);
  if (a.status === 'rejected' || w.status === 'rejected') {
    if (a.status === 'fulfilled') a.value?.destroy();
    if (w.status === 'fulfilled') w.value.cancel();
    cli.warn(errorText(a.status === 'rejected' ? a.reason : (w as PromiseRejectedResult).reason));
    return 125;
  }
  conn = a.value;
  waiter = w.value;
  try {
    await startIt();
  } catch (err) {
    conn?.destroy();
    reportError(cli, 'run', errorText(err), false);
    // With --rm the daemon removes the container; let that finish before we exit.
    if (cfg.HostConfig.AutoRemove) await Promise.race([waiter.result, new Promise((r) => setTimeout(r, 3000).unref())]);
    waiter.cancel(); // the container never ran: no exit will answer the wait
    return startExitCode(err);
  }
  const sigProxy = p.has('sig-proxy') ? p.bool('sig-proxy') : true;
  return followUntilExit(cli, id, conn, waiter, { tty: cfg.Tty, stdin: cfg.AttachStdin, detachKeys, sigProxy });
}

/**
 * The attached side of a started container, until it exits (its code) or we detach (0):
 * the remote terminal follows ours, signals are forwarded (not on a TTY: there the
 * terminal sends them), stdio is pumped, then the exit registered by `waiter` is awaited.
 */
export async function followUntilExit(
  cli: Cli, id: string, conn: Hijacked | undefined, waiter: Waiter,
  o: { tty: boolean; stdin: boolean; detachKeys?: Buffer; sigProxy: boolean; detachIsError?: boolean },
): Promise<number> {
  const stopResize = o.tty
    ? monitorSize(cli, (h, w) => cli.client.call('POST', `/containers/${seg(id)}/resize`, { h, w }))
    : () => {};
  const stopSignals = !o.tty && o.sigProxy ? proxySignals(cli, id) : () => {};
  try {
    if (conn) {
      const { detached } = await pump(cli, conn, { tty: o.tty, stdin: o.stdin, detachKeys: o.detachKeys });
      if (detached) {
        waiter.cancel();
        // docker attach returns its EscapeError ("read escape sequence", exit 1); run and start -a return nil
        if (o.detachIsError) {
          cli.err.write('read escape sequence\n');
          return 1;
        }
        return 0;
      }
    }
    return await waiter.result;
  } finally {
    stopResize();
    stopSignals();
  }
}
