// Go's strconv.Atoi as dockerd parses numbers from the API (query parameters, filters, log
// options): an optional sign and decimal digits, else its "invalid syntax" words.
import { invalidArgument } from './errors.js';

export function goAtoi(v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw invalidArgument(`strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}
