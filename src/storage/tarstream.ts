// A small streaming tar reader for layer tars (ustar, GNU long names, pax). We read tar
// ourselves rather than through node-tar's Parser because its pax parser drops
// SCHILY.xattr.* records and decodes pax bodies as UTF-8, which corrupts binary xattr values
// such as security.capability; it also skips bad headers silently unless in strict mode.
import { invalidArgument, printable } from '../common/errors.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  name: string;        // raw name as stored (pax/GNU long name applied), not yet normalized
  type: EntryType;
  mode: number;        // permission bits incl. setuid/setgid/sticky (07777)
  uid: number;
  gid: number;
  size: number;        // body size (regular files only; 0 otherwise)
  mtime: number;       // seconds since the epoch (may be fractional from pax)
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

const BLOCK = 512;
const MAX_META = 1 << 20; // pax / GNU long-name bodies: refuse absurd sizes instead of buffering them

/** Pulls exact byte counts out of an async chunk source. */
class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer | string>) {}

  /** Make at least n bytes available; false when the source ended first. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) { this.done = true; break; }
      const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      if (b.length) { this.chunks.push(b); this.buffered += b.length; }
    }
    return this.buffered >= n;
  }

  private take(n: number): Buffer {
    const c = this.chunks[0];
    this.buffered -= n;
    if (c.length >= n) {
      if (c.length === n) this.chunks.shift(); else this.chunks[0] = c.subarray(n);
      return c.subarray(0, n);
    }
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    return all.subarray(0, n);
  }

  /** Exactly n bytes, or null if the source ended before any of them; a partial read is 'short'. */
  async read(n: number): Promise<Buffer | null | 'short'> {
    if (await this.fill(n)) return this.take(n);
    return this.buffered === 0 ? null : 'short';
  }

  /** Stream n bytes as they come (bounded memory for big files). */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1))) throw truncated(`file body ends ${left} bytes early`);
      const first = this.chunks[0];
      const k = Math.min(left, first.length);
      yield this.take(k);
      left -= k;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) { /* discard */ }
  }

  /** Read and discard everything left (so a caller hashing the stream sees all of it). */
  async drain(): Promise<void> {
    this.chunks = []; this.buffered = 0;
    while (!this.done) { if ((await this.it.next()).done) this.done = true; }
  }
}

function truncated(what: string) {
  return invalidArgument(`layer tar is truncated or corrupt: ${what}`);
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
}

const badHeader = (what: string) => invalidArgument(`layer tar header: ${what} (not a tar, or a corrupt one)`);

/** Octal (space/NUL padded) or GNU base-256 numeric field. */
function num(b: Buffer, off: number, len: number, field: string): number {
  const s = b.subarray(off, off + len);
  if (s[0] & 0x80) {
    if (s[0] === 0xff) throw badHeader(`negative ${field}`);
    let v = s[0] & 0x7f;
    for (let i = 1; i < s.length; i++) v = v * 256 + s[i];
    if (!Number.isSafeInteger(v)) throw badHeader(`${field} too large`);
    return v;
  }
  const t = s.toString('latin1').replace(/\0.*$/s, '').trim();
  if (t === '') return 0;
  // a field of random bytes (not a tar at all) is shown as ASCII, its other bytes as "?"
  if (!/^[0-7]+$/.test(t)) throw badHeader(`bad ${field} "${printable(t)}"`);
  return parseInt(t, 8);
}

function checksumOk(h: Buffer): boolean {
  const want = num(h, 148, 8, 'checksum');
  let u = 0; let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i];
    u += c; s += c > 127 ? c - 256 : c; // some old tars summed signed bytes
  }
  return want === u || want === s;
}

interface Pax { [k: string]: Buffer }

/** "LEN key=value\n" records; values kept as bytes (xattr values may be binary). */
function parsePax(body: Buffer): Pax {
  const out: Pax = {};
  let p = 0;
  while (p < body.length) {
    if (body[p] === 0) break; // NUL padding
    const sp = body.indexOf(0x20, p);
    if (sp < 0) throw invalidArgument('layer tar: malformed pax record');
    const len = Number(body.subarray(p, sp).toString('latin1'));
    if (!Number.isInteger(len) || len <= sp - p + 1 || p + len > body.length || body[p + len - 1] !== 0x0a) {
      throw invalidArgument('layer tar: malformed pax record length');
    }
    const rec = body.subarray(sp + 1, p + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw invalidArgument('layer tar: malformed pax record (no key)');
    out[rec.subarray(0, eq).toString('utf8')] = rec.subarray(eq + 1);
    p += len;
  }
  return out;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink',
  '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/**
 * Read a tar stream. For each entry `onEntry` is awaited with the entry and (for regular
 * files) a body iterator that must be consumed or left alone (the rest is skipped).
 * Throws invalidArgument on a truncated or malformed archive (one that ends inside a header,
 * a file's data or its padding; ending cleanly between entries is allowed, as in Go's
 * archive/tar). Consumes the whole source.
 */
export async function readTar(
  src: AsyncIterable<Buffer | string>,
  onEntry: (e: TarEntry, body: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const it = src[Symbol.asyncIterator]();
  try {
    await readEntries(new ByteReader(it), onEntry);
  } catch (e) {
    await it.return?.(); // stop (and, for a Readable, destroy) the source on failure
    throw e;
  }
}

async function readEntries(
  r: ByteReader,
  onEntry: (e: TarEntry, body: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  let pax: Pax | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;
  for (;;) {
    const h = await r.read(BLOCK);
    if (h === null) {
      if (pax || longName !== null || longLink !== null) throw truncated('a metadata entry without the entry it describes');
      break;
    }
    if (h === 'short') throw truncated('partial header block');
    if (h.every((c) => c === 0)) {
      // end-of-archive: Go's reader reads the 2nd zero block too; none is an end, part of one
      // is an archive cut short (its io.ErrUnexpectedEOF)
      if ((await r.read(BLOCK)) === 'short') throw truncated('partial end-of-archive block');
      break;
    }
    if (!checksumOk(h)) throw badHeader('checksum mismatch');
    const flag = String.fromCharCode(h[156]);
    const size = num(h, 124, 12, 'size');
    const padded = Math.ceil(size / BLOCK) * BLOCK;

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw invalidArgument(`layer tar: metadata entry of ${size} bytes is too large`);
      const body = size ? await r.read(padded) : Buffer.alloc(0);
      if (body === null || body === 'short') throw truncated('metadata entry body');
      const data = body.subarray(0, size);
      if (flag === 'x') pax = { ...(pax ?? {}), ...parsePax(data) };
      else if (flag === 'L') longName = cstr(data, 0, data.length);
      else if (flag === 'K') longLink = cstr(data, 0, data.length);
      // 'g' (global pax) carries nothing docker applies; ignore it as docker does.
      continue;
    }

    const magic = h.subarray(257, 263).toString('latin1');
    let name = cstr(h, 0, 100);
    if (magic === 'ustar\0') { const pre = cstr(h, 345, 155); if (pre) name = `${pre}/${name}`; }
    let linkname = cstr(h, 157, 100);
    let type = TYPES[flag];
    if (flag === '0' || flag === '\0') { if (name.endsWith('/')) type = 'dir'; } // old V7 dirs
    const e: TarEntry = {
      name, type, linkname, size, mode: num(h, 100, 8, 'mode') & 0o7777,
      uid: num(h, 108, 8, 'uid'), gid: num(h, 116, 8, 'gid'), mtime: num(h, 136, 12, 'mtime'),
      devmajor: num(h, 329, 8, 'devmajor'), devminor: num(h, 337, 8, 'devminor'), xattrs: new Map(),
    };
    if (longName !== null) e.name = longName;
    if (longLink !== null) e.linkname = longLink;
    if (pax) {
      for (const [k, v] of Object.entries(pax)) {
        const s = (): string => v.toString('utf8');
        if (k === 'path') e.name = s();
        else if (k === 'linkpath') e.linkname = s();
        else if (k === 'size') e.size = paxNum(s(), k);
        else if (k === 'uid') e.uid = paxNum(s(), k);
        else if (k === 'gid') e.gid = paxNum(s(), k);
        else if (k === 'mtime') e.mtime = Number(s()) || 0;
        else if (k.startsWith('SCHILY.xattr.')) e.xattrs.set(k.slice('SCHILY.xattr.'.length), v);
        else if (k.startsWith('GNU.sparse.')) throw invalidArgument(`layer tar entry "${e.name}": sparse files are not supported`);
      }
    }
    pax = null; longName = null; longLink = null;
    if (!type) throw invalidArgument(`layer tar entry "${e.name}": unsupported entry type '${flag}'`);
    // Only regular files have a body; like Go's archive/tar, the size field of header-only
    // types (links, dirs, devices) is ignored.
    if (type !== 'file') e.size = 0;
    let left = e.size;
    const padding = Math.ceil(left / BLOCK) * BLOCK - left;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: async function* () {
        for await (const c of r.stream(left)) { left -= c.length; yield c; }
      },
    };
    await onEntry(e, body);
    await r.skip(left); // whatever the handler did not read
    // A tar that stops right after its last file's data, without the block padding and the
    // end-of-archive marker, is what umoci (and any Go tar writer never closed) produces; Go's
    // archive/tar, and so docker and containerd, read it as a clean end, and so do we. A layer's
    // diff id still proves it whole. Padding that stops half-way is a truncated tar.
    if (padding && (await r.read(padding)) === 'short') throw truncated('partial block padding');
  }
  await r.drain();
}

function paxNum(s: string, k: string): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`layer tar: bad pax ${k} "${s}"`);
  return v;
}
