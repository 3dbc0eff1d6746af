// What Go's encoding/json says of text that is not JSON, for the messages dockerd's clients
// and tests look for ("invalid character 'i' looking for beginning of object key string"):
// a step-for-step port of the states of Go's scanner (encoding/json/scanner.go), run only
// once JSON.parse has refused a body, so V8's words never reach a client.

type Step = (c: number) => string | null; // the error's context, or null: go on

/** Go's quoteChar: `'x'`, `'\''`, `'"'`, `'\n'`, `'\x00'`. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 0x5c: '\\\\' };
  if (named[c]) return `'${named[c]}'`;
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, '0')}'`;
  if (c >= 0x80 && c < 0xa0) return `'\\u00${c.toString(16)}'`;
  return `'${String.fromCharCode(c)}'`;
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/**
 * How Go's json.Decoder (one value, then dockerd's dec.More()) takes `bytes`: `error` is null
 * when it decodes a value (the bytes before `end`), else 'EOF' (only space), 'unexpected EOF'
 * (cut short), Go's syntax error, or 'more' (content after the value that More() reports:
 * anything but space, `]` or `}`).
 */
export function goDecode(bytes: Uint8Array): { error: string | null; end: number } {
  const stack: Array<'object' | 'array'> = [];
  let step: Step;
  let done = false; // the top-level value is complete
  let started = false;
  let ended = false; // a top-level number ended at the byte that follows it, still to be read

  const endValue = (): void => {
    if (stack.length === 0) { done = true; return; }
    step = stack[stack.length - 1] === 'object' ? afterObjectValue : afterArrayValue;
  };
  // a number ends at the first byte that is not part of it: that byte is then stepped again
  const numberEnd = (c: number): string | null => {
    endValue();
    if (done) { ended = true; return null; }
    return step(c);
  };

  const beginValue: Step = (c) => {
    if (isSpace(c)) return null;
    started = true;
    switch (c) {
      case 0x7b: stack.push('object'); step = beginKeyOrEmpty; return null; // {
      case 0x5b: stack.push('array'); step = beginValueOrEmpty; return null; // [
      case 0x22: step = inString(() => endValue()); return null;
      case 0x2d: step = neg; return null;
      case 0x30: step = zero; return null;
      case 0x74: step = literal('true', 1); return null;
      case 0x66: step = literal('false', 1); return null;
      case 0x6e: step = literal('null', 1); return null;
    }
    if (c >= 0x31 && c <= 0x39) { step = digits; return null; }
    return 'looking for beginning of value';
  };
  const beginValueOrEmpty: Step = (c) => {
    if (isSpace(c)) return null;
    if (c === 0x5d) { stack.pop(); endValue(); return null; }
    return beginValue(c);
  };
  const beginKeyOrEmpty: Step = (c) => {
    if (isSpace(c)) return null;
    if (c === 0x7d) { stack.pop(); endValue(); return null; }
    return beginKey(c);
  };
  const beginKey: Step = (c) => {
    if (isSpace(c)) return null;
    if (c === 0x22) { step = inString(() => { step = afterKey; }); return null; }
    return 'looking for beginning of object key string';
  };
  const afterKey: Step = (c) => {
    if (isSpace(c)) return null;
    if (c === 0x3a) { step = beginValue; return null; }
    return 'after object key';
  };
  const afterObjectValue: Step = (c) => {
    if (isSpace(c)) return null;
    if (c === 0x2c) { step = beginKey; return null; }
    if (c === 0x7d) { stack.pop(); endValue(); return null; }
    return 'after object key:value pair';
  };
  const afterArrayValue: Step = (c) => {
    if (isSpace(c)) return null;
    if (c === 0x2c) { step = beginValue; return null; }
    if (c === 0x5d) { stack.pop(); endValue(); return null; }
    return 'after array element';
  };
  const inString = (end: () => void): Step => {
    const s: Step = (c) => {
      if (c === 0x22) { end(); return null; }
      if (c === 0x5c) { step = escape; return null; }
      if (c < 0x20) return 'in string literal';
      return null;
    };
    const escape: Step = (c) => {
      if ('bfnrt\\/"'.includes(String.fromCharCode(c))) { step = s; return null; }
      if (c === 0x75) { step = hex(4); return null; }
      return 'in string escape code';
    };
    const hex = (left: number): Step => (c) => {
      if (!isHex(c)) return 'in \\u hexadecimal character escape';
      step = left > 1 ? hex(left - 1) : s;
      return null;
    };
    return s;
  };
  const neg: Step = (c) => {
    if (c === 0x30) { step = zero; return null; }
    if (c >= 0x31 && c <= 0x39) { step = digits; return null; }
    return 'in numeric literal';
  };
  const zero: Step = (c) => {
    if (c === 0x2e) { step = dot; return null; }
    if (c === 0x65 || c === 0x45) { step = exp; return null; }
    return numberEnd(c);
  };
  const digits: Step = (c) => (isDigit(c) ? null : zero(c));
  const dot: Step = (c) => {
    if (isDigit(c)) { step = fraction; return null; }
    return 'after decimal point in numeric literal';
  };
  const fraction: Step = (c) => {
    if (isDigit(c)) return null;
    if (c === 0x65 || c === 0x45) { step = exp; return null; }
    return numberEnd(c);
  };
  const exp: Step = (c) => {
    if (c === 0x2b || c === 0x2d) { step = expSign; return null; }
    return expSign(c);
  };
  const expSign: Step = (c) => {
    if (isDigit(c)) { step = expDigits; return null; }
    return 'in exponent of numeric literal';
  };
  const expDigits: Step = (c) => (isDigit(c) ? null : numberEnd(c));
  const literal = (word: string, i: number): Step => (c) => {
    if (c !== word.charCodeAt(i)) return `in literal ${word} (expecting ${quoteChar(word.charCodeAt(i))})`;
    if (i + 1 === word.length) endValue(); else step = literal(word, i + 1);
    return null;
  };

  step = beginValue;
  let i = 0;
  for (; i < bytes.length && !done; i++) {
    const c = bytes[i]!;
    const err = step(c);
    if (err) return { error: `invalid character ${quoteChar(c)} ${err}`, end: i };
  }
  if (!done) {
    // a top-level number is complete at the end of the input
    if (started && stack.length === 0 && (step === zero || step === digits || step === fraction || step === expDigits)) return { error: null, end: i };
    return { error: started ? 'unexpected EOF' : 'EOF', end: i };
  }
  const end = ended ? i - 1 : i;
  // dec.More(): the next byte that is not space, unless it is ] or }
  for (let j = end; j < bytes.length; j++) {
    const c = bytes[j]!;
    if (isSpace(c)) continue;
    return { error: c === 0x5d || c === 0x7d ? null : 'more', end };
  }
  return { error: null, end };
}

/**
 * A request body decoded as dockerd's httputils.ReadJSON decodes it (one JSON value; what
 * follows refused unless More() passes it), its errors in dockerd's words. `invalid` makes
 * the error (errdefs.InvalidParameter's edge: a 400).
 */
export function decodeJsonBody(body: Uint8Array, invalid: (msg: string) => Error): unknown {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch { /* Go's words below */ }
  const { error, end } = goDecode(body);
  if (error === 'EOF') throw invalid('invalid JSON: got EOF while reading request body');
  if (error === 'more') throw invalid('unexpected content after JSON');
  if (error) throw invalid(`invalid JSON: ${error}`);
  // Go took a value V8 refused with what follows it (`{} }`): the value alone
  return JSON.parse(Buffer.from(body.buffer, body.byteOffset, end).toString('utf8'));
}

/**
 * What Go's json.Unmarshal says of `text` that JSON.parse refused (its checkValid of the whole
 * input): a syntax error in the scanner's words, `unexpected end of JSON input` for text cut
 * short or empty, and anything but space after the value `after top-level value`.
 */
export function goUnmarshalError(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  const { error, end } = goDecode(bytes);
  if (error === 'EOF' || error === 'unexpected EOF') return 'unexpected end of JSON input';
  if (error && error !== 'more') return error;
  let i = end;
  while (i < bytes.length && isSpace(bytes[i]!)) i++;
  return i < bytes.length ? `invalid character ${quoteChar(bytes[i]!)} after top-level value` : 'unexpected end of JSON input';
}
