// What every command gets: the daemon client and the process's streams. Streams are
// injectable so commands can be driven from tests without a terminal.
import type { Readable, Writable } from 'node:stream';
import { ApiError, Client } from './client.js';

export interface Streams {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export class Cli {
  private cached?: Client;

  constructor(readonly host: string, readonly streams: Streams, readonly debug = false) {}

  get client(): Client {
    this.cached ??= new Client(this.host);
    return this.cached;
  }

  get out(): Streams['stdout'] {
    return this.streams.stdout;
  }

  get err(): Streams['stderr'] {
    return this.streams.stderr;
  }

  get in(): Streams['stdin'] {
    return this.streams.stdin;
  }

  /** Print a line to stdout. */
  print(line: string): void {
    this.out.write(`${line}\n`);
  }

  /** Print a line to stderr. */
  warn(line: string): void {
    this.err.write(`${line}\n`);
  }

  debugLog(msg: string): void {
    if (this.debug) this.err.write(`DEBU ${msg}\n`);
  }
}

/** A command's own failure with the exit code docker would use. */
export class StatusError extends Error {
  constructor(readonly exitCode: number, message = '') {
    super(message);
    this.name = 'StatusError';
  }
}

/**
 * Run fn for each name; print errors per name like docker and report 1 if any failed. With
 * `missing`, a 404 is docker's objectNotFoundError for that kind, and no failure with
 * `force` (rm -f and rmi -f of what is not there).
 */
export async function forEach(cli: Cli, names: string[], fn: (name: string) => Promise<void>,
  missing?: { kind: string; force: boolean }): Promise<number> {
  let failed = false;
  for (const name of names) {
    try {
      await fn(name);
    } catch (err) {
      const notFound = !!missing && err instanceof ApiError && err.status === 404;
      cli.warn(notFound ? `Error: No such ${missing!.kind}: ${name}` : errorText(err));
      if (!(notFound && missing!.force)) failed = true;
    }
  }
  return failed ? 1 : 0;
}

/** The message shown for an error (ApiError's already reads "Error response from daemon: …"). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * docker's PromptForConfirmation: "message [y/N] " on stdout, one line from stdin; only
 * y or Y (spaces around allowed) says yes. A closed stdin is a no.
 */
export async function promptForConfirmation(cli: Cli, message: string): Promise<boolean> {
  cli.out.write(`${message} [y/N] `);
  const input = cli.in;
  input.setEncoding('utf8');
  input.resume();
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: string) => { buf += d; const nl = buf.indexOf('\n'); if (nl >= 0) { done(); resolve(buf.slice(0, nl)); } };
    const onEnd = () => { done(); resolve(buf); };
    const done = () => { input.off('data', onData); input.off('end', onEnd); input.pause(); };
    input.on('data', onData);
    input.on('end', onEnd);
  });
  return /^\s*y\s*$/i.test(line);
}
