// Rendering the daemon's JSON-lines progress streams (image pull and load), docker's
// pkg/jsonmessage: {"stream"} text, {"status","id","progressDetail"} progress, {"error"}.
// On a terminal each layer gets a cli-progress bar (bytes and speed) and a summary follows;
// elsewhere only the lines without a progress bar, as docker prints them to pipes.
import type { Readable, Writable } from 'node:stream';
import { jsonLines } from './client.js';
import { humanSize } from './units.js';

/** The daemon reported a failure inside the stream (docker's JSONError). */
export class JsonMessageError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'JsonMessageError';
  }
}

interface Msg {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string; code?: number };
}

export interface DisplayResult {
  /** Every "stream" text, in order ("Loaded image: busybox:latest\n"). */
  streams: string[];
  /** Bytes moved per layer id (for the summary). */
  bytes: number;
  layers: number;
}

export interface DisplayOptions {
  out: Writable & { isTTY?: boolean; columns?: number };
  /** Draw progress bars (stdout is a terminal and the user did not ask for quiet). */
  tty: boolean;
  /** A verb for the summary line ("Loaded", "Pulled"). */
  verb?: string;
  /** Without bars, print only the "stream" texts (load's final lines), no status lines. */
  streamsOnly?: boolean;
}

function errorOf(m: Msg): JsonMessageError | undefined {
  if (m.error === undefined && m.errorDetail === undefined) return undefined;
  return new JsonMessageError(m.errorDetail?.message || m.error || 'unknown error', m.errorDetail?.code);
}

const hasProgress = (m: Msg) => !!m.progress || (m.progressDetail !== undefined && (m.progressDetail.total ?? 0) > 0);

export async function displayJsonMessages(src: Readable, opts: DisplayOptions): Promise<DisplayResult> {
  return opts.tty ? displayBars(src, opts) : displayPlain(src, opts.out, !!opts.streamsOnly);
}

async function displayPlain(src: Readable, out: Writable, streamsOnly: boolean): Promise<DisplayResult> {
  const res: DisplayResult = { streams: [], bytes: 0, layers: 0 };
  const seen = new Set<string>();
  for await (const obj of jsonLines(src)) {
    const m = obj as Msg;
    const err = errorOf(m);
    if (err) throw err;
    if (m.stream !== undefined) {
      res.streams.push(m.stream);
      out.write(m.stream);
      continue;
    }
    if (m.id && m.progressDetail?.total) {
      if (!seen.has(m.id)) res.layers++;
      seen.add(m.id);
    }
    // Progress bars make no sense in a pipe; docker drops those messages there.
    if (streamsOnly || hasProgress(m) || m.status === undefined) continue;
    out.write(`${m.id ? `${m.id}: ` : ''}${m.status}\n`);
  }
  return res;
}

interface BarState {
  bar: { update(value: number, payload?: object): void; setTotal(total: number): void };
  total: number;
  value: number;
  started: number;
}

async function displayBars(src: Readable, opts: DisplayOptions): Promise<DisplayResult> {
  const mod = await import('cli-progress');
  const cp = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const started = Date.now();
  const res: DisplayResult = { streams: [], bytes: 0, layers: 0 };
  const bars = new Map<string, BarState>();
  const multi = new cp.MultiBar({
    stream: opts.out as NodeJS.WriteStream,
    hideCursor: true,
    barsize: 30,
    fps: 10,
    barCompleteChar: '=',
    barIncompleteChar: ' ',
    autopadding: false,
    forceRedraw: false,
    format: (options, params, payload: { id: string; status: string; speed: string }) => {
      const head = `${payload.id}: ${payload.status}`;
      if (!params.total) return head;
      const bar = options.barCompleteString!.slice(0, Math.round(params.progress * 30)).padEnd(30, ' ');
      return `${head.padEnd(28)} [${bar}] ${humanSize(params.value).padStart(8)}/${humanSize(params.total)} ${payload.speed}`;
    },
  });
  const speed = (st: BarState) => {
    const secs = (Date.now() - st.started) / 1000;
    return secs > 0.05 ? `${humanSize(st.value / secs)}/s` : '';
  };
  try {
    for await (const obj of jsonLines(src)) {
      const m = obj as Msg;
      const err = errorOf(m);
      if (err) throw err;
      if (m.stream !== undefined) {
        res.streams.push(m.stream);
        continue;
      }
      if (m.status === undefined) continue;
      if (!m.id) {
        // Lines without an id go above the bars; before any bar exists, straight out.
        if (bars.size === 0) opts.out.write(`${m.status}\n`);
        else {
          multi.log(`${m.status}\n`);
          multi.update();
        }
        continue;
      }
      let st = bars.get(m.id);
      const total = m.progressDetail?.total ?? 0;
      const current = m.progressDetail?.current ?? 0;
      if (!st) {
        const bar = multi.create(total, current, { id: m.id, status: m.status, speed: '' });
        st = { bar, total, value: current, started: Date.now() };
        bars.set(m.id, st);
      }
      if (total && total !== st.total) {
        st.total = total;
        st.bar.setTotal(total);
      }
      // A status without numbers after a transfer ("Pull complete", "Loading layer" done)
      // means the layer is finished: show the bar full.
      if (!hasProgress(m) && st.total) st.value = st.total;
      else if (m.progressDetail?.current !== undefined) st.value = current;
      st.bar.update(st.value, { status: m.status, speed: speed(st) });
    }
  } finally {
    multi.stop();
  }
  for (const st of bars.values()) {
    if (st.total) {
      res.layers++;
      res.bytes += st.total;
    }
  }
  for (const s of res.streams) opts.out.write(s);
  if (res.layers && opts.verb) {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    opts.out.write(`${opts.verb} ${res.layers} layer${res.layers === 1 ? '' : 's'}, ${humanSize(res.bytes)} in ${secs}s\n`);
  }
  return res;
}
