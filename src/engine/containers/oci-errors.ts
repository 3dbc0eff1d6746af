// A runtime's refusal to start a container or an exec, as dockerd 20.10 reports it over
// containerd (moby daemon/errors.go translateContainerdStartErr): scripts match on these words.
import { TsulaError, errorMessage, invalidArgument } from '../../common/errors.js';

export interface DockerdStartError {
  error: TsulaError;
  /** The exit code dockerd records for a container that failed to start (128 when none fits). */
  exitCode: number;
}

/**
 * containerd ends an error of no known class with ": unknown" (its shim's create failure
 * after "failed to create shim task: "); dockerd answers 400 for a command that is not there
 * (the message names it), one it may not run, or a path that is not a directory (with its
 * bind-mount hint), and 500 for the rest. Errors that are not the runtime's go as they are.
 */
export function dockerdStartError(e: unknown, cmd: string, kind: 'create' | 'exec'): DockerdStartError | null {
  const msg = errorMessage(e);
  if (!msg.startsWith(`OCI runtime ${kind} failed`)) return null;
  let desc = `${kind === 'create' ? 'failed to create shim task: ' : ''}${msg}: unknown`;
  const lower = desc.toLowerCase();
  let exitCode = 128;
  let bad = false;
  // dockerd lowercases the message only: a command with capitals never matches
  if (lower.includes(cmd) && (lower.includes('executable file not found') || lower.includes('no such file or directory'))) {
    exitCode = 127;
    bad = true;
  }
  if (lower.includes('permission denied')) {
    exitCode = 126;
    bad = true;
  }
  if (lower.includes('not a directory')) {
    desc += ': Are you trying to mount a directory onto a file (or vice-versa)? '
      + 'Check if the specified host path exists and is the expected type';
    exitCode = 127;
    bad = true;
  }
  return { error: bad ? invalidArgument(desc, e) : new TsulaError('Internal', desc, { cause: e }), exitCode };
}

/** An exec's start error for its client (exec.ts records its exit code: 127 or 126). */
export function dockerdExecStartError(e: unknown, entrypoint: string): unknown {
  return dockerdStartError(e, entrypoint, 'exec')?.error ?? e;
}
