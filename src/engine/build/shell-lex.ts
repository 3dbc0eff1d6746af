// Variable substitution in Dockerfile words, as moby's shell.Lex (ProcessWord, ProcessWords)
// does it for the instructions it expands (ENV, LABEL, COPY, ADD, WORKDIR, USER, VOLUME,
// STOPSIGNAL, ARG, EXPOSE, FROM): $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}; single quotes
// are literal, double quotes expand; the escape token (\ or `) escapes the next character.
// Quotes are removed from the result, as a shell would. RUN/CMD/ENTRYPOINT are not expanded
// here: the shell in the container does that.
import { invalidArgument } from '../../common/errors.js';

/** The environment substitution reads: `KEY=value` entries, the later one of a key winning. */
export type Env = string[];

function lookup(env: Env, name: string): string | undefined {
  let found: string | undefined;
  for (const e of env) {
    const i = e.indexOf('=');
    const k = i < 0 ? e : e.slice(0, i);
    if (k === name) found = i < 0 ? '' : e.slice(i + 1);
  }
  return found;
}

const SPECIAL = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class Scanner {
  pos = 0;
  constructor(readonly s: string[]) {}
  peek(): string | undefined { return this.s[this.pos]; }
  next(): string | undefined { return this.s[this.pos++]; }
}

/** Words as a shell splits them: unquoted whitespace separates, quoted or escaped text does not. */
class Words {
  words: string[] = [];
  cur = '';
  inWord = false;
  addChar(ch: string): void {
    if (/\s/.test(ch) && this.inWord) {
      this.words.push(this.cur);
      this.cur = '';
      this.inWord = false;
    } else if (!/\s/.test(ch)) this.addRaw(ch);
  }
  addRaw(s: string): void { this.cur += s; this.inWord = true; }
  /** An expansion's value is split on whitespace too (EXPOSE $PORTS). */
  addString(s: string): void { for (const ch of s) this.addChar(ch); }
  get(): string[] { return this.inWord ? [...this.words, this.cur] : this.words; }
}

class ShellWord {
  private sc: Scanner;
  constructor(word: string, private readonly env: Env, private readonly escape: string) {
    this.sc = new Scanner([...word]);
  }

  process(): { word: string; words: string[] } {
    const r = this.processStopOn(undefined);
    return { word: r.word, words: r.words };
  }

  private processStopOn(stop: string | undefined): { word: string; words: string[] } {
    let result = '';
    const words = new Words();
    while (this.sc.peek() !== undefined) {
      const ch = this.sc.peek()!;
      if (stop !== undefined && ch === stop) {
        this.sc.next();
        return { word: result, words: words.get() };
      }
      if (ch === "'" || ch === '"' || ch === '$') {
        const tmp = ch === "'" ? this.singleQuote() : ch === '"' ? this.doubleQuote() : this.dollar();
        result += tmp;
        if (ch === '$') words.addString(tmp); else words.addRaw(tmp);
        continue;
      }
      let c = this.sc.next()!;
      if (c === this.escape) {
        // the escape token escapes the next character; one at the very end is dropped
        const n = this.sc.next();
        if (n === undefined) break;
        c = n;
        words.addRaw(c);
      } else {
        words.addChar(c);
      }
      result += c;
    }
    if (stop !== undefined) throw invalidArgument(`unexpected end of statement while looking for matching ${stop}`);
    return { word: result, words: words.get() };
  }

  private singleQuote(): string {
    this.sc.next();
    let out = '';
    for (;;) {
      const ch = this.sc.next();
      if (ch === undefined) throw invalidArgument('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return out;
      out += ch;
    }
  }

  private doubleQuote(): string {
    this.sc.next();
    let out = '';
    for (;;) {
      const ch = this.sc.peek();
      if (ch === undefined) throw invalidArgument('unexpected end of statement while looking for matching double-quote');
      if (ch === '"') { this.sc.next(); return out; }
      if (ch === '$') { out += this.dollar(); continue; }
      let c = this.sc.next()!;
      if (c === this.escape) {
        const n = this.sc.peek();
        if (n === undefined) continue; // a lone escape at the end of the word is dropped
        // only these are escaped inside double quotes; other escapes stay as written
        if (n === '"' || n === '$' || n === this.escape) c = this.sc.next()!;
      }
      out += c;
    }
  }

  private name(): string {
    let name = '';
    for (let ch = this.sc.peek(); ch !== undefined; ch = this.sc.peek()) {
      if (name === '' && /[0-9]/.test(ch)) {
        while (this.sc.peek() !== undefined && /[0-9]/.test(this.sc.peek()!)) name += this.sc.next();
        return name;
      }
      if (name === '' && SPECIAL.has(ch)) return this.sc.next()!;
      if (!/[\p{L}\p{N}_]/u.test(ch)) break;
      name += this.sc.next();
    }
    return name;
  }

  private dollar(): string {
    this.sc.next();
    if (this.sc.peek() !== '{') {
      const name = this.name();
      if (name === '') return '$';
      return lookup(this.env, name) ?? '';
    }
    this.sc.next();
    const first = this.sc.peek();
    if (first === undefined) throw invalidArgument("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw invalidArgument('syntax error: bad substitution');
    const name = this.name();
    const ch = this.sc.next();
    if (ch === '}') return lookup(this.env, name) ?? '';
    if (ch === ':') {
      const modifier = this.sc.next();
      let word: string;
      try {
        word = this.processStopOn('}').word;
      } catch (e) {
        if (this.sc.peek() === undefined) throw invalidArgument("syntax error: missing '}'");
        throw e;
      }
      const value = lookup(this.env, name) ?? '';
      if (modifier === '+') return value !== '' ? word : value;
      if (modifier === '-') return value === '' ? word : value;
      throw invalidArgument(`unsupported modifier (${modifier ?? ''}) in substitution`);
    }
    throw invalidArgument("missing ':' in substitution");
  }
}

export class ShellLex {
  constructor(readonly escape: string = '\\') {}

  /** One word, quotes removed and variables substituted. */
  processWord(word: string, env: Env): string {
    return new ShellWord(word, env, this.escape).process().word;
  }

  /** The words a shell would make of `word` after substitution (EXPOSE's list). */
  processWords(word: string, env: Env): string[] {
    return new ShellWord(word, env, this.escape).process().words;
  }
}
