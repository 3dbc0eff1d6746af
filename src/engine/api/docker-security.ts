// HostConfig.SecurityOpt read as dockerd's parseSecurityOpt reads it: no-new-privileges[=bool],
// label=…, apparmor=…, seccomp=unconfined|builtin|<the profile's JSON> (the docker CLI reads
// a --security-opt seccomp=FILE and sends the file's content). Anything else is refused in
// dockerd's words.
import { invalidArgument } from '../../common/errors.js';
import { parseGoBool } from '../../common/gobool.js';
import type { Security } from '../containers/model.js';

export function securityFromDocker(opts: string[]): Pick<Security, 'noNewPrivileges' | 'seccomp'> & { apparmor?: string } {
  let noNewPrivileges = false;
  let seccomp: Security['seccomp'] = { type: 'default' };
  let apparmor: string | undefined;
  for (const opt of opts) {
    if (opt === 'no-new-privileges') { noNewPrivileges = true; continue; }
    if (opt === 'disable') continue; // a label option: SELinux is not used by tsulad
    // "key=value", or the deprecated "key:value"
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : '';
    if (!sep) throw invalidArgument(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const key = opt.slice(0, opt.indexOf(sep));
    const value = opt.slice(opt.indexOf(sep) + 1);
    switch (key) {
      case 'label': break; // no SELinux on tsulad's hosts: dockerd's InitLabels is a no-op there too
      case 'apparmor': apparmor = value; break;
      case 'seccomp': seccomp = seccompOpt(value); break;
      case 'no-new-privileges': {
        const b = parseGoBool(value);
        if (b === null) throw invalidArgument(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        noNewPrivileges = b;
        break;
      }
      default: throw invalidArgument(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return { noNewPrivileges, seccomp, ...(apparmor !== undefined ? { apparmor } : {}) };
}

/** unconfined, builtin (= the default profile), or a profile's JSON, checked now rather than at start. */
function seccompOpt(value: string): Security['seccomp'] {
  if (value === 'unconfined') return { type: 'unconfined' };
  if (value === 'builtin' || value === '') return { type: 'default' };
  try {
    const p: unknown = JSON.parse(value);
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new Error('not a JSON object');
  } catch (e) {
    throw invalidArgument(`Decoding seccomp profile failed: ${(e as Error).message} (--security-opt seccomp= takes unconfined, builtin or a profile's JSON; the docker CLI reads seccomp=FILE for you)`);
  }
  return { type: 'inline', profile: value };
}
