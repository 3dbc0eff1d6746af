// Detach keys (docker's --detach-keys, default ctrl-p ctrl-q): the CLI watches its own
// terminal for them, and tsulad watches a TTY attach's stdin too (as dockerd does), so a
// client that forwards every byte still detaches and the sequence never reaches the shell.
import { invalidArgument } from './errors.js';

/** ctrl-p ctrl-q, docker's default detach sequence. */
export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]);

/** docker's --detach-keys syntax: "ctrl-p,ctrl-q", "a,ctrl-@". */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const k = part.trim();
    if (/^ctrl-[a-z@\[\\\]^_]$/i.test(k)) {
      const c = k.slice(5).toLowerCase();
      out.push(c >= 'a' && c <= 'z' ? c.charCodeAt(0) - 96 : '@[\\]^_'.indexOf(c));
    } else if (k.length === 1) {
      out.push(k.charCodeAt(0));
    } else {
      throw invalidArgument(`Unknown character: '${k}'`);
    }
  }
  return Buffer.from(out);
}

/**
 * term.NewEscapeProxy: hold back bytes while they match a prefix of the detach sequence,
 * pass them on if the match breaks, and report when the whole sequence was typed.
 */
export class EscapeProxy {
  private held = 0;

  constructor(private readonly keys: Buffer) {}

  /** Returns the bytes to forward, and whether the user asked to detach. */
  feed(chunk: Buffer): { data: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) return { data: Buffer.from(out), detach: true };
        continue;
      }
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (b === this.keys[0]) this.held = 1;
      else out.push(b);
    }
    return { data: Buffer.from(out), detach: false };
  }
}
