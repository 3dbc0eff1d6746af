// Pumping a hijacked attach/exec connection: stdin → daemon (raw mode and detach keys on a
// TTY, half-close at EOF otherwise), daemon → stdout/stderr (raw with a TTY, demultiplexed
// without), and terminal size updates. Docker's cli/command/container/hijack.go does this.
import { spawnSync } from 'node:child_process';
import type { Hijacked } from './client.js';
import type { Cli } from './context.js';
import { copyTo, demuxTo } from './stdcopy.js';
import { DEFAULT_DETACH_KEYS, EscapeProxy } from '../common/detachkeys.js';

export interface PumpOptions {
  tty: boolean;
  /** Send our stdin to the process. */
  stdin: boolean;
  detachKeys?: Buffer;
}

/** Put the terminal in raw mode; the returned function restores it (idempotent). */
export function makeRaw(cli: Cli): () => void {
  const input = cli.in;
  if (!input.isTTY || !input.setRawMode) return () => {};
  input.setRawMode(true);
  // libuv's raw mode keeps output processing (ONLCR), Go's term.MakeRaw that docker uses
  // does not: without this the container terminal's "\r\n" reaches ours as "\r\r\n".
  // (setRawMode(false) puts the terminal's own settings back, OPOST with them.)
  if (input === process.stdin) spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
  let done = false;
  const restore = () => {
    if (done) return;
    done = true;
    try { input.setRawMode?.(false); } catch { /* the terminal may be gone already */ }
  };
  // Never leave the user's terminal raw, whatever way the process ends.
  process.once('exit', restore);
  return restore;
}

/**
 * Pump both directions until the daemon closes its output (the process ended or the
 * stream was closed). Resolves with detached=true when the user typed the detach keys.
 */
export async function pump(cli: Cli, conn: Hijacked, opts: PumpOptions): Promise<{ detached: boolean }> {
  let detached = false;
  let stopInput = () => {};
  let restore = () => {};
  let signalDetach: () => void = () => {};
  const detachP = new Promise<void>((resolve) => { signalDetach = resolve; });

  if (opts.stdin && conn.input) {
    const input = cli.in;
    const sink = conn.input;
    if (opts.tty) restore = makeRaw(cli);
    const proxy = opts.tty && input.isTTY ? new EscapeProxy(opts.detachKeys ?? DEFAULT_DETACH_KEYS) : undefined;
    const onData = (chunk: Buffer | string) => {
      let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (proxy) {
        const r = proxy.feed(buf);
        buf = r.data;
        if (r.detach) {
          detached = true;
          if (buf.length) sink.write(buf);
          signalDetach();
          return;
        }
      }
      if (buf.length && !sink.destroyed && !sink.write(buf)) {
        input.pause();
        sink.once('drain', () => input.resume());
      }
    };
    // EOF on our stdin: half-close so the process sees EOF but its output still arrives.
    const onEnd = () => conn.closeWrite();
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
    stopInput = () => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      // A paused TTY or pipe must not keep the event loop (and so tsula) alive.
      (input as unknown as { unref?: () => void }).unref?.();
    };
  }

  const outputDone = opts.tty
    ? copyTo(conn.output, cli.out)
    : demuxTo(conn.output, cli.out, cli.err);
  try {
    await Promise.race([
      outputDone.catch((err: NodeJS.ErrnoException) => {
        // The daemon closing the socket hard at the end of a process is still the end.
        if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') throw err;
      }),
      detachP,
    ]);
  } finally {
    stopInput();
    restore();
    if (detached) conn.destroy();
  }
  return { detached };
}

/**
 * Our terminal's size as [height, width] (docker's Out().GetTtySize()), for API 1.42's
 * ConsoleSize: the process' TTY has it from its start, where a resize after the start comes
 * too late for a command that asks at once (`stty size`, a full-screen program's first draw).
 * Undefined off a terminal.
 */
export function ttySize(cli: Cli): [number, number] | undefined {
  const out = cli.out;
  const h = out.rows ?? 0;
  const w = out.columns ?? 0;
  return out.isTTY && h > 0 && w > 0 ? [h, w] : undefined;
}

/**
 * Keep the remote terminal's size in step with ours: once now, then on SIGWINCH.
 * Returns a function that stops listening.
 */
export function monitorSize(cli: Cli, resize: (h: number, w: number) => Promise<unknown>): () => void {
  const out = cli.out;
  if (!out.isTTY) return () => {};
  const send = (attempt = 0) => {
    const h = out.rows ?? 0;
    const w = out.columns ?? 0;
    if (h <= 0 || w <= 0) return;
    resize(h, w).catch((err: Error) => {
      // The first resize can race the process start; docker retries it a few times.
      if (attempt < 5) setTimeout(() => send(attempt + 1), 10 * (attempt + 1)).unref();
      else cli.debugLog(`resize failed: ${err.message}`);
    });
  };
  send();
  const onWinch = () => send(5);
  process.on('SIGWINCH', onWinch);
  return () => process.off('SIGWINCH', onWinch);
}
