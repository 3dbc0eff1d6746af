// iSulad's hook spec (`isula run --hook-spec FILE`, daemon.json "hook-spec" for every
// container): a JSON file of OCI hooks, {"prestart": [...], "poststart": [...], "poststop":
// [...]}, each {"path", "args", "env", "timeout"}, read once at create and put in the
// container's OCI spec, where runc runs them on the host. A VM's guest runs no host hooks.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../../common/errors.js';
import type { Hook, Hooks } from '../../oci/types.js';

const KINDS = ['prestart', 'poststart', 'poststop'] as const;

/** The hooks of a hook spec file, checked; its errors name the file and the entry. */
export async function readHookSpec(file: string): Promise<Hooks> {
  if (!path.isAbsolute(file)) throw invalidArgument(`hook spec file ${JSON.stringify(file)}: must be an absolute path`);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw invalidArgument(`hook spec file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  return parseHookSpec(raw, file);
}

export function parseHookSpec(raw: unknown, file: string): Hooks {
  const bad = (what: string) => invalidArgument(`hook spec file ${file}: ${what}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('want an object of prestart, poststart and poststop hooks');
  const out: Hooks = {};
  for (const [kind, list] of Object.entries(raw as Record<string, unknown>)) {
    if (!(KINDS as readonly string[]).includes(kind)) throw bad(`unknown hook kind "${kind}" (want ${KINDS.join(', ')})`);
    if (list === null) continue;
    if (!Array.isArray(list)) throw bad(`${kind}: want a list of hooks`);
    out[kind as typeof KINDS[number]] = list.map((h, i): Hook => {
      const at = `${kind}[${i}]`;
      if (!h || typeof h !== 'object') throw bad(`${at}: want an object with a path`);
      const { path: p, args, env, timeout } = h as Record<string, unknown>;
      if (typeof p !== 'string' || !path.isAbsolute(p)) throw bad(`${at}.path: must be an absolute path`);
      const strings = (v: unknown, name: string) => {
        if (v === undefined || v === null) return undefined;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`${at}.${name}: want a list of strings`);
        return v as string[];
      };
      if (timeout !== undefined && timeout !== null && (!Number.isInteger(timeout) || (timeout as number) <= 0)) throw bad(`${at}.timeout: want a number of seconds above 0`);
      const a = strings(args, 'args');
      const e = strings(env, 'env');
      return { path: p, ...(a ? { args: a } : {}), ...(e ? { env: e } : {}), ...(typeof timeout === 'number' ? { timeout } : {}) };
    });
  }
  return out;
}
