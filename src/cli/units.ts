// Human-friendly sizes and durations, as github.com/docker/go-units prints them, so that
// tsula's tables read exactly like docker's (`4.26MB`, `About a minute ago`).

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** Go's `%.<prec>g`: shortest digits up to prec, exponent form when exp < -4 or >= prec. */
export function goFormatG(v: number, prec: number): string {
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
  if (v === 0) return '0';
  const p = Math.max(prec, 1);
  const [mant, expStr] = v.toExponential(p - 1).split('e');
  const exp = Number(expStr);
  if (exp < -4 || exp >= p) {
    const m = stripZeros(mant!);
    const sign = exp < 0 ? '-' : '+';
    const abs = Math.abs(exp);
    return `${m}e${sign}${abs < 10 ? '0' : ''}${abs}`;
  }
  return stripZeros(v.toFixed(Math.max(0, p - 1 - exp)));
}

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

function sizeWith(size: number, prec: number, base: number, units: string[]): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${goFormatG(size, prec)}${units[i]}`;
}

/** go-units HumanSizeWithPrecision: decimal units (docker images' SIZE uses precision 3). */
export function humanSizeWithPrecision(size: number, prec: number): string {
  return sizeWith(size, prec, 1000, DECIMAL);
}

/** go-units HumanSize: decimal units, 4 significant digits. */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** go-units BytesSize: binary units (docker info's Total Memory). */
export function bytesSize(size: number): string {
  return sizeWith(size, 4, 1024, BINARY);
}

export { ramInBytes } from '../common/sizes.js';

export { humanDuration } from '../common/duration.js';
import { humanDuration } from '../common/duration.js';

/** "2 minutes ago" for a unix-seconds timestamp, as docker's CREATED column. */
export function timeAgo(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/** go's time.Time.String() shape ("2006-01-02 15:04:05 -0700 MST"), used by .CreatedAt. */
export function goTimeString(d: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const oh = pad(Math.trunc(Math.abs(off) / 60));
  const om = pad(Math.abs(off) % 60);
  const zone = off === 0 ? 'UTC' : `${sign}${oh}${om}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${oh}${om} ${zone}`;
}

/**
 * go's time.Time.String() of a time decoded from RFC 3339 JSON (a network's Created): the
 * text's own zone ("Z" is "+0000 UTC"), the fraction without its trailing zeros.
 */
export function goTimeStringOf(rfc: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(rfc);
  if (!m) return rfc;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const off = m[4]!.replace(':', '');
  return `${m[1]} ${m[2]}${frac ? `.${frac}` : ''} ${m[4] === 'Z' ? '+0000 UTC' : `${off} ${off}`}`;
}

/** RFC 3339 with a fixed 9-digit fraction (docker's jsonmessage.RFC3339NanoFixed), local zone. */
export function rfc3339NanoFixed(unixNanos: bigint): string {
  const ms = Number(unixNanos / 1_000_000n);
  const frac = String(unixNanos % 1_000_000_000n).padStart(9, '0');
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z'
    : `${off < 0 ? '-' : '+'}${pad(Math.trunc(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${frac}${zone}`;
}

/** Go's time.Unix(s, 0).Format(time.RFC3339), in the local zone ("2026-11-22T10:00:00+01:00"). */
export function rfc3339(unixSeconds: number): string {
  return rfc3339NanoFixed(BigInt(Math.trunc(unixSeconds)) * 1_000_000_000n).replace(/\.\d{9}/, '');
}

/**
 * docker's timetypes.GetTimestamp for --since/--until: a Go duration ("10m", "1h30m") is
 * relative to now; an RFC 3339 date or a date-time is absolute; a unix timestamp passes as is.
 */
export function toApiTimestamp(value: string, now = Date.now()): string {
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const dur = parseGoDuration(value);
  if (dur !== undefined) return secondsString(now - dur);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`failed to parse value as time or duration: "${value}"`);
  return secondsString(t);
}

function secondsString(ms: number): string {
  const s = Math.floor(ms / 1000);
  const ns = (ms - s * 1000) * 1_000_000;
  return `${s}.${String(Math.round(ns)).padStart(9, '0')}`;
}

const DUR_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration string in milliseconds, or undefined when it is not one. */
export function parseGoDuration(s: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  const body = s.startsWith('-') ? s.slice(1) : s;
  if (!body) return undefined;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    total += Number(m[1]) * DUR_UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== body.length) return undefined;
  return s.startsWith('-') ? -total : total;
}
