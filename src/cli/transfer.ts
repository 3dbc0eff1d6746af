// Files to and from the daemon, as the docker CLI moves them: a file as a request body (with
// its length), and an answer's body to stdout or to a file (save, export).
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
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
 * docker's ValidateOutputPath, before the request: the directory must exist, and an existing
 * path must be a directory or a regular file, not a device (a FIFO is written into).
 */
export function validateOutputPath(output: string | undefined, failed: string): void {
  if (!output) return;
  const dir = dirname(output);
  if (dir !== '.' && !existsSync(dir)) throw new StatusError(1, `${failed}: invalid output path: directory "${dir}" does not exist`);
  const st = statSync(output, { throwIfNoEntry: false });
  if (st && (st.isCharacterDevice() || st.isBlockDevice())) {
    throw new StatusError(1, `${failed}: invalid output path: "${output}" must be a directory or a regular file: got a device`);
  }
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
  // a FIFO or a socket (validateOutputPath refused devices) is written into as it is: a file
  // renamed over it would replace it
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
