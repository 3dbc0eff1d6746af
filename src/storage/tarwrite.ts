// A minimal tar writer (ustar + pax for long names, big numbers and xattrs). It writes names
// exactly as given, without any checks, so tests can build the malicious archives node-tar
// refuses to; tarpack.ts streams real trees through the same headers.
import type { EntryType } from './tarstream.js';

export interface TarWriteEntry {
  name: string;
  type?: EntryType;            // default 'file' (or 'dir' when name ends with '/')
  data?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;              // seconds
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
}

const FLAG: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function header(name: string, flag: string, o: { mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const h = Buffer.alloc(512);
  const str = (off: number, len: number, s: string) => { Buffer.from(s, 'utf8').copy(h, off, 0, len); };
  const oct = (off: number, len: number, n: number) => str(off, len, Math.floor(n).toString(8).padStart(len - 1, '0') + '\0');
  str(0, 100, name);
  oct(100, 8, o.mode); oct(108, 8, o.uid); oct(116, 8, o.gid); oct(124, 12, o.size); oct(136, 12, o.mtime);
  h.fill(0x20, 148, 156);
  str(156, 1, flag);
  str(157, 100, o.linkname);
  str(257, 6, 'ustar\0'); str(263, 2, '00');
  oct(329, 8, o.devmajor); oct(337, 8, o.devminor);
  let sum = 0;
  for (const b of h) sum += b;
  str(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

const pad = (b: Buffer) => (b.length % 512 ? Buffer.concat([b, Buffer.alloc(512 - (b.length % 512))]) : b);

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/** ustar's octal fields hold at most 11 digits (size, mtime) or 7 (ids): past that, pax says it. */
const MAX_OCT11 = 0o77777777777;
const MAX_OCT7 = 0o7777777;

/**
 * The header block(s) of one entry whose body is `size` bytes (0 for all but files): a pax
 * extended header first when the name, link, size, ids or xattrs do not fit ustar.
 */
export function entryHeader(e: TarWriteEntry, size: number): Buffer {
  const type = e.type ?? (e.name.endsWith('/') ? 'dir' : 'file');
  const linkname = e.linkname ?? '';
  const uid = e.uid ?? 0;
  const gid = e.gid ?? 0;
  const mtime = e.mtime ?? 1_700_000_000;
  const recs: Buffer[] = [];
  if (Buffer.byteLength(e.name) > 100) recs.push(paxRecord('path', Buffer.from(e.name)));
  if (Buffer.byteLength(linkname) > 100) recs.push(paxRecord('linkpath', Buffer.from(linkname)));
  if (size > MAX_OCT11) recs.push(paxRecord('size', Buffer.from(String(size))));
  if (uid > MAX_OCT7) recs.push(paxRecord('uid', Buffer.from(String(uid))));
  if (gid > MAX_OCT7) recs.push(paxRecord('gid', Buffer.from(String(gid))));
  for (const [k, v] of Object.entries(e.xattrs ?? {})) recs.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
  const base = { mode: 0, uid: 0, gid: 0, size: 0, mtime, linkname: '', devmajor: 0, devminor: 0 };
  const parts: Buffer[] = [];
  if (recs.length) {
    const body = Buffer.concat(recs);
    parts.push(header('PaxHeader', 'x', { ...base, mode: 0o644, size: body.length }), pad(body));
  }
  parts.push(header(e.name, FLAG[type], {
    ...base, mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644), uid: Math.min(uid, MAX_OCT7), gid: Math.min(gid, MAX_OCT7),
    size: Math.min(size, MAX_OCT11), mtime: Math.max(0, Math.min(mtime, MAX_OCT11)), linkname, devmajor: e.devmajor ?? 0, devminor: e.devminor ?? 0,
  }));
  return Buffer.concat(parts);
}

/** Zeros that bring a body of `size` bytes to a whole block. */
export function bodyPadding(size: number): Buffer {
  return Buffer.alloc(size % 512 ? 512 - (size % 512) : 0);
}

/** Build a tar in memory. `end: false` leaves off the end-of-archive blocks. */
export function buildTar(entries: TarWriteEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'dir' : 'file');
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    parts.push(entryHeader(e, data.length));
    if (data.length) parts.push(pad(data));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
