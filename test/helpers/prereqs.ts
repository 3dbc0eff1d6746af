// No silent green: a test file whose prerequisites are missing fails, saying what to install,
// instead of skipping. Called at the top of a file, before any test is declared.
import { existsSync } from 'node:fs';

/**
 * Throw unless the process is root (when asked) and every file exists. `files` maps a path
 * to the Debian package that ships it.
 */
export function requirePrerequisites(what: string, o: { root?: boolean; files?: Record<string, string> }): void {
  if (o.root && process.getuid?.() !== 0) throw new Error(`${what}: the tests start real daemons and containers: run them as root`);
  const missing = Object.entries(o.files ?? {}).filter(([f]) => !existsSync(f));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    throw new Error(`${what}: missing ${missing.map(([f]) => f).join(', ')}: run scripts/deps.sh --test (Debian: ${pkgs.join(' ')})`);
  }
}
