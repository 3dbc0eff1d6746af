// Files to and from the daemon, as the docker CLI moves them: a file as a request body (with
// its length), and an answer's body to stdout or to a file (save, export).
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { StatusError, type Cli } from './context.js';

/** A regular file as a body and the Content-Length header that goes with it; docker's error when it can't. */
export function fileBody(file: string): { body: Readable; headers: Record<string, string> } {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    size = st.size;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StatusError(1, e.code === 'ENOENT' ? `open ${file}: no such file or directory` : e.message);
  }
  return { body: createReadStream(file), headers: { 'Content-Length': String(size) } };
}

/** docker's refusal to write an archive to a terminal: before the request is made. */
export function refuseTerminal(cli: Cli, output: string | undefined): void {
  if (!output && cli.out.isTTY) throw new StatusError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
}

/**
 * The body to stdout, or to `output`: written beside it and renamed, so that a failed copy
 * never leaves half a tar behind (docker's CopyToFile); `failed` prefixes the error then.
 */
export async function writeOutput(cli: Cli, res: Readable, output: string | undefined, failed: string): Promise<void> {
  // loaded here, not at the top: the CLI's snapshot holds the modules that import this one
  const { pipeline } = await import('node:stream/promises');
  const { rename, unlink } = await import('node:fs/promises');
  if (!output) {
    await pipeline(res, cli.out, { end: false });
    return;
  }
  // a device, a FIFO or a socket (/dev/null, /dev/stdout, a named pipe) is written to as it
  // is: renaming a file over it would replace /dev/null with a regular file
  const { stat } = await import('node:fs/promises');
  const st = await stat(output).catch(() => null);
  if (st && !st.isFile()) {
    try {
      await pipeline(res, createWriteStream(output, { flags: 'a' }));
    } catch (err) {
      throw new Error(`${failed}: ${(err as Error).message}`);
    }
    return;
  }
  const tmp = join(dirname(output), `.${basename(output)}.tsula-${process.pid}`);
  try {
    await pipeline(res, createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, output);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new Error(`${failed}: ${(err as Error).message}`);
  }
}
