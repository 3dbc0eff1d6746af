// What a terminal of `cols` columns shows after some output: enough of a VT100 for progress
// displays (text with auto-wrap, CR, LF, cursor up/down, erase line). Used to check the
// final screen of `pull` on a pty rather than the bytes that drew it. LF starts a new line
// at column 0, as the tty's onlcr makes it.
export function renderScreen(output: string, cols: number): string[] {
  const rows: string[][] = [[]];
  let x = 0;
  let y = 0;
  const row = (n: number) => {
    while (rows.length <= n) rows.push([]);
    return rows[n]!;
  };
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    if (c === '\x1b') {
      const m = /^\x1b\[(\??)([\d;]*)([A-Za-z])/.exec(output.slice(i));
      if (!m) continue;
      i += m[0].length - 1;
      if (m[1]) continue; // private modes (cursor visibility, auto-wrap): no effect on the text
      const n = Number(m[2] || '1');
      switch (m[3]) {
        case 'A': y = Math.max(0, y - n); break;
        case 'B': y += n; break;
        case 'G': x = Math.max(0, n - 1); break;
        case 'K': {
          const r = row(y);
          const mode = Number(m[2] || '0');
          if (mode === 2) r.length = 0;
          else if (mode === 1) for (let k = 0; k <= Math.min(x, r.length - 1); k++) r[k] = ' ';
          else r.length = Math.min(r.length, x);
          break;
        }
        default: break;
      }
      continue;
    }
    if (c === '\r') { x = 0; continue; }
    if (c === '\n') { x = 0; y++; continue; }
    if (c < ' ') continue;
    // a character past the last column wraps first (the terminal's pending wrap)
    if (x >= cols) { x = 0; y++; }
    const r = row(y);
    while (r.length < x) r.push(' ');
    r[x] = c;
    x++;
  }
  const text = rows.map((r) => r.join('').trimEnd());
  while (text.length && text[text.length - 1] === '') text.pop();
  return text;
}
