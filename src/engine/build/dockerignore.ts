// .dockerignore as moby reads and matches it (builder/dockerignore.ReadAll and
// pkg/fileutils.PatternMatcher): one pattern a line, `#` lines are comments, patterns are
// cleaned and made relative, `!` re-includes, `*` and `?` stop at `/`, `**` crosses
// directories, and a pattern that matches a parent directory matches what is below it. The
// last pattern that matches a path decides.
import * as path from 'node:path';
import { invalidArgument } from '../../common/errors.js';

/** The patterns of a .dockerignore file. */
export function readDockerignore(text: string): string[] {
  const out: string[] = [];
  for (let line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    if (line.startsWith('#')) continue;
    line = line.trim();
    if (!line) continue;
    const invert = line.startsWith('!');
    if (invert) line = line.slice(1).trim();
    if (line) {
      line = path.posix.normalize(line).replace(/\/+$/, '') || '/';
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
    }
    out.push(invert ? `!${line}` : line);
  }
  return out;
}

interface Pattern { exclusion: boolean; dirs: number; re: RegExp }

/** moby's pattern → regexp (Pattern.compile). */
function compile(p: string): RegExp {
  let re = '^';
  const chars = [...p];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++; // "**/" is "**"
        re += i + 1 >= chars.length ? '.*' : '(.*/)?';
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') re += '[^/]';
    else if (ch === '.' || ch === '$') re += `\\${ch}`;
    else if (ch === '\\') re += i + 1 < chars.length ? `\\${chars[++i]}` : '\\\\';
    else re += ch;
  }
  try {
    return new RegExp(`${re}$`, 'u');
  } catch {
    throw invalidArgument(`syntax error in pattern: ${p}`);
  }
}

export class PatternMatcher {
  private readonly patterns: Pattern[] = [];

  constructor(patterns: string[]) {
    for (let p of patterns) {
      p = p.trim();
      if (!p) continue;
      p = path.posix.normalize(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw invalidArgument('illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
      }
      this.patterns.push({ exclusion, dirs: p.split('/').length, re: compile(p) });
    }
  }

  get empty(): boolean { return this.patterns.length === 0; }
  get hasExclusions(): boolean { return this.patterns.some((p) => p.exclusion); }

  /** Whether `file` (relative, `/`-separated) is excluded. */
  matches(file: string): boolean {
    const parent = path.posix.dirname(file);
    const parentDirs = parent.split('/');
    let matched = false;
    for (const p of this.patterns) {
      let match = p.re.test(file);
      // a pattern that names a directory above the file excludes the file
      if (!match && parent !== '.' && p.dirs <= parentDirs.length) match = p.re.test(parentDirs.slice(0, p.dirs).join('/'));
      if (match) matched = !p.exclusion;
    }
    return matched;
  }
}
