// AppArmor as runc applies it: process.apparmorProfile names a profile the host's kernel has
// loaded; runc's init switches to it at exec. What names one: CRI's SecurityProfile (Localhost:
// its localhost_ref) or the deprecated apparmor_profile string (localhost/<name>), and
// docker's --security-opt apparmor=<name>. runtime/default and docker's default load a
// profile of the engine's own with apparmor_parser; tsula ships none, so they, like
// unconfined, leave the process unconfined (as on a host without AppArmor).
import { existsSync, readFileSync, promises as fs } from 'node:fs';
import { failedPrecondition, invalidArgument } from '../common/errors.js';

const SECURITYFS = '/sys/kernel/security/apparmor';

/** The host's kernel enforces AppArmor (containerd's and runc's test). */
export function apparmorEnabled(): boolean {
  if (!existsSync(SECURITYFS)) return false;
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
  } catch {
    return false;
  }
}

/** A profile name, or none: '', runtime/default, docker-default and unconfined set nothing. */
export function namedProfile(profile: string | undefined): string | undefined {
  if (!profile || profile === 'unconfined' || profile === 'runtime/default' || profile === 'docker-default') return undefined;
  return profile.startsWith('localhost/') ? profile.slice('localhost/'.length) : profile;
}

/**
 * At create, as containerd checks it: a named profile needs AppArmor on the host and the
 * profile loaded (listed in securityfs' profiles), else the create fails, not the start.
 */
export async function checkApparmorProfile(profile: string | undefined): Promise<void> {
  const name = namedProfile(profile);
  if (!name) return;
  if (!apparmorEnabled()) throw failedPrecondition(`apparmor profile ${name}: apparmor is not enabled on this host`);
  const loaded = await fs.readFile(`${SECURITYFS}/profiles`, 'utf8').catch(() => '');
  // lines: "<name> (enforce)", "<name> (complain)"
  if (!loaded.split('\n').some((l) => l.slice(0, l.lastIndexOf(' (')) === name)) {
    throw invalidArgument(`apparmor profile not found ${name}: load it first (apparmor_parser -r <file>)`);
  }
}
