// Sizes as docker's go-units parses them, for the CLI's flags and the daemon's options alike.

const SIZE_RE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const SUFFIX = ['k', 'm', 'g', 't', 'p'];

function parse(s: string, base: number): number {
  const m = SIZE_RE.exec(s.trim());
  if (!m) throw new Error(`invalid size: '${s}'`);
  const n = Number.parseFloat(m[1]!);
  const mult = m[2] ? base ** (SUFFIX.indexOf(m[2].toLowerCase()) + 1) : 1;
  return Math.floor(n * mult);
}

/** go-units RAMInBytes: "64m" → 67108864 (binary multiples, case-insensitive suffix). */
export function ramInBytes(s: string): number {
  return parse(s, 1024);
}

/** go-units FromHumanSize: "10m" → 10000000 (decimal multiples; json-file's max-size). */
export function fromHumanSize(s: string): number {
  return parse(s, 1000);
}
