// A runtime's refusal of an exec, as dockerd 20.10–24 reports it (moby daemon/errors.go
// translateContainerdStartErr over containerd's error): scripts match on these words.
import { TsulaError, errorMessage, invalidArgument } from '../../common/errors.js';

const OCI_EXEC = 'OCI runtime exec failed';

/**
 * containerd ends an error of no known class with ": unknown"; dockerd answers 400 for a
 * command that is not there (its message names it), one it may not run, or a path that is
 * not a directory (with its bind-mount hint), and 500 for the rest (a missing -w).
 * Errors before the runtime (an unknown -u user) go as they are.
 */
export function dockerdExecStartError(e: unknown, entrypoint: string): TsulaError | unknown {
  const msg = errorMessage(e);
  if (!msg.startsWith(OCI_EXEC)) return e;
  let desc = `${msg}: unknown`;
  const lower = desc.toLowerCase();
  // dockerd lowercases the message only, so a command with capitals never matches
  let bad = lower.includes(entrypoint)
    && (lower.includes('executable file not found') || lower.includes('no such file or directory'));
  if (lower.includes('permission denied')) bad = true;
  if (lower.includes('not a directory')) {
    desc += ': Are you trying to mount a directory onto a file (or vice-versa)? '
      + 'Check if the specified host path exists and is the expected type';
    bad = true;
  }
  return bad ? invalidArgument(desc, e) : new TsulaError('Internal', desc, { cause: e });
}
