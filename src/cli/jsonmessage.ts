// Rendering the daemon's JSON-lines progress streams (image pull and load) as docker's
// pkg/jsonmessage DisplayJSONMessagesStream does. On a terminal, a message with an id and a
// progressDetail owns a line: the first one for an id opens a line below the others, later
// ones move the cursor up to it, rewrite it in place and move back down; a message without
// (Digest:, Status:, "latest: Pulling from …") is printed below and starts a new block. The
// bar is drawn only on terminals wider than 110 columns, as docker draws it, and a layer's
// line is cut to the width so that it never wraps (a wrapped line would break the count of
// lines to move up) where the terminal says its width. Elsewhere, only the messages that carry no progress are printed.
import type { Readable, Writable } from 'node:stream';
import { jsonLines } from './client.js';
import { humanSize } from './units.js';
import { goDuration } from '../common/duration.js';

/** The daemon reported a failure inside the stream (docker's JSONError). */
export class JsonMessageError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'JsonMessageError';
  }
}

export interface JsonProgress { current?: number; total?: number; start?: number; hidecounts?: boolean; units?: string }

export interface JsonMessage {
  stream?: string;
  status?: string;
  id?: string;
  from?: string;
  progress?: string;
  progressDetail?: JsonProgress;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: unknown;
  time?: number;
  timeNano?: number;
}

export interface DisplayOptions {
  out: Writable & { isTTY?: boolean; columns?: number };
  /** Render for a terminal (cursor movement, in-place lines). */
  tty: boolean;
  /** Terminal width; default: out.columns, else 200 (docker's default). */
  width?: number;
  /** The clock for time-left estimates (tests). */
  now?: () => number;
}

/** What the stream said beside the progress: every "stream" text, and the aux objects, in order. */
export interface DisplayResult { streams: string[]; aux: unknown[] }

/** docker's JSONProgress.String(): "[====>   ]  1.05MB/2.1MB 3s", less on narrow terminals. */
export function progressString(p: JsonProgress, width: number, now = Date.now()): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return p.units ? `${current} ${p.units}` : humanSize(current).padStart(8);
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  let bar = '';
  if (width > 110) bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `;
  let numbers = '';
  if (!p.hidecounts) {
    if (p.units) numbers = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
    else numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  }
  let left = '';
  if (current > 0 && p.start && p.start > 0 && percentage < 50 && width > 50) {
    const perEntryMs = (now - p.start * 1000) / current;
    left = ` ${goDuration(Math.max(0, Math.trunc(((total - current) * perEntryMs) / 1000)) * 1e9)}`;
  }
  return bar + numbers + left;
}

function errorOf(m: JsonMessage): JsonMessageError | undefined {
  if (!m.errorDetail && m.error === undefined) return undefined;
  if (m.errorDetail?.code === 401) return new JsonMessageError('authentication is required', 401);
  return new JsonMessageError(m.errorDetail?.message || m.error || 'unknown error', m.errorDetail?.code);
}

// what docker 20.10 writes (github.com/morikuni/aec): erase the whole line, cursor up, down
const CLEAR_LINE = '\x1b[2K';
const up = (n: number) => (n > 0 ? `\x1b[${n}A` : '');
const down = (n: number) => (n > 0 ? `\x1b[${n}B` : '');

/** Cut to n display columns (escape-free text: one column per code point). */
function cut(s: string, n: number): string {
  const cps = [...s];
  return cps.length <= n ? s : cps.slice(0, n).join('');
}

/** docker's JSONMessage.Display: one message as text (without the cursor movement around it). */
function display(m: JsonMessage, o: { tty: boolean; width: number; now: number }): string | null {
  const err = errorOf(m);
  if (err) throw err;
  let text = '';
  let endl = '';
  let prefix = '';
  if (o.tty && !m.stream && m.progressDetail) {
    prefix = `${CLEAR_LINE}\r`;
    endl = '\r';
  } else if (m.progressDetail && progressString(m.progressDetail, o.width, o.now) !== '') {
    return null; // no progress bars where there is no terminal
  }
  if (m.id) text += `${m.id}: `;
  if (m.from) text += `(from ${m.from}) `;
  if (m.progressDetail && o.tty) {
    // the layer's line: cut to the terminal, so it stays one line (a terminal that says no
    // size, 0 columns, gets it whole, as docker's never cuts)
    const line = `${text}${m.status ?? ''} ${progressString(m.progressDetail, o.width, o.now)}`;
    return prefix + (o.width > 0 ? cut(line, o.width) : line) + endl;
  }
  if (m.progress) return `${prefix}${text}${m.status ?? ''} ${m.progress}${endl}`;
  if (m.stream) return `${prefix}${text}${m.stream}${endl}`;
  return `${prefix}${text}${m.status ?? ''}${endl}\n`;
}

export async function displayJsonMessages(src: Readable, opts: DisplayOptions): Promise<DisplayResult> {
  const res: DisplayResult = { streams: [], aux: [] };
  // docker's JSONProgress.width: the terminal's columns where it can read them (0 on a
  // terminal of no size: no bar), else 200
  const width = opts.width ?? (opts.out.isTTY ? opts.out.columns ?? 0 : 200);
  // the line of each id in the current block: 0 is the block's first
  let ids = new Map<string, number>();
  for await (const obj of jsonLines(src)) {
    const m = obj as JsonMessage;
    if (m.aux !== undefined) { res.aux.push(m.aux); continue; }
    if (m.stream !== undefined) res.streams.push(m.stream);
    let diff = 0;
    let before = '';
    if (m.id && (m.progressDetail || m.progress)) {
      let line = ids.get(m.id);
      if (line === undefined) {
        line = ids.size;
        ids.set(m.id, line);
        if (opts.tty) before += '\n';
      }
      diff = ids.size - line;
      if (opts.tty) before += up(diff);
    } else {
      // anything else ends the block: later progress must not rewrite lines above it
      ids = new Map();
    }
    const text = display(m, { tty: opts.tty, width, now: (opts.now ?? Date.now)() });
    const after = m.id && opts.tty ? down(diff) : '';
    if (before || text !== null || after) opts.out.write(before + (text ?? '') + after);
  }
  return res;
}
