// Kubernetes resource quantities ("10M", "1Mi", "1.5G", "2e3", "500m"), as
// k8s.io/apimachinery's ParseQuantity reads them, to an integer as Quantity.Value() gives it:
// rounded up, away from zero. Exact (BigInt): "1P" and "1Pi" differ in their last digits.
import { invalidArgument } from './errors.js';

const FORMAT = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';
const SPLIT = new RegExp(FORMAT);

// apimachinery's errors, word for word (kubelet and containerd pass them on)
const ERR_FORMAT = `quantities must match the regular expression '${FORMAT}'`;
const ERR_NUMERIC = 'unable to parse numeric part of quantity';
const ERR_SUFFIX = "unable to parse quantity's suffix";

const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** The exponents a suffix stands for: 10^dec · 2^bin. */
function suffixOf(s: string): { dec: number; bin: number } {
  if (s in DECIMAL) return { dec: DECIMAL[s]!, bin: 0 };
  if (s in BINARY) return { dec: 0, bin: BINARY[s]! };
  // "e3", "E-2": a decimal exponent ("E" alone is exa, above)
  if (s.length > 1 && (s[0] === 'e' || s[0] === 'E') && /^[-+]?[0-9]+$/.test(s.slice(1))) return { dec: Number(s.slice(1)), bin: 0 };
  throw invalidArgument(ERR_SUFFIX);
}

/** ParseQuantity(s).Value(): the quantity as an integer, rounded up (away from zero). */
export function quantityValue(s: string): bigint {
  const m = SPLIT.exec(s);
  if (!s || !m) throw invalidArgument(ERR_FORMAT);
  const [, num, suffix] = m as unknown as [string, string, string];
  const n = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(num);
  if (!n || (!n[2] && !n[3])) throw invalidArgument(ERR_NUMERIC);
  const negative = n[1] === '-';
  const frac = n[3] ?? '';
  const { dec, bin } = suffixOf(suffix);
  // |value| = digits · 10^(dec - len(frac)) · 2^bin, as a fraction num/den
  const digits = BigInt((n[2] ?? '') + frac || '0');
  const e = dec - frac.length;
  const top = digits * (1n << BigInt(bin)) * (e > 0 ? 10n ** BigInt(e) : 1n);
  const den = e < 0 ? 10n ** BigInt(-e) : 1n;
  const abs = (top + den - 1n) / den;
  return negative ? -abs : abs;
}
