// `tsula pull` (and the implicit pull of `run`/`create` when the image is missing):
// POST /images/create?fromImage=NAME&tag=TAG, a JSON-lines progress stream. Credentials
// saved by `tsula login` for the image's registry go along in X-Registry-Auth, as the
// docker CLI sends them.
import type { Writable } from 'node:stream';
import type { CommandSpec, Parsed } from '../args.js';
import type { Cli } from '../context.js';
import { displayJsonMessages } from '../jsonmessage.js';
import { pullQuery } from '../reference.js';
import { encodeRegistryAuth } from '../../image/registry/auth.js';
import { getCredentials } from '../../image/registry/credentials.js';
import { parseReference } from '../../image/reference.js';

export const spec: CommandSpec = {
  name: 'pull',
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  desc: 'Download an image from a registry',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { long: 'all-tags', short: 'a', kind: 'bool', desc: 'Download all tagged images in the repository' },
    { long: 'platform', kind: 'string', desc: 'Set platform if server is multi-platform capable' },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress verbose output' },
  ],
};

/** The X-Registry-Auth header for a reference's registry, from the saved credentials. */
export async function registryAuthHeader(ref: string): Promise<Record<string, string>> {
  let domain: string;
  try {
    domain = parseReference(ref).domain;
  } catch {
    return {}; // the daemon reports the bad reference
  }
  const creds = await getCredentials(domain);
  return creds ? { 'X-Registry-Auth': encodeRegistryAuth(creds) } : {};
}

/** Pull one image, showing progress on `out`; throws JsonMessageError/ApiError on failure. */
export async function pullImage(
  cli: Cli, ref: string, out: Writable & { isTTY?: boolean; columns?: number }, opts: { quiet?: boolean; platform?: string; all?: boolean } = {},
): Promise<void> {
  const q = pullQuery(ref);
  const res = await cli.client.request({
    method: 'POST',
    path: '/images/create',
    query: { fromImage: q.fromImage, tag: opts.all ? undefined : q.tag, platform: opts.platform },
    headers: await registryAuthHeader(ref),
  });
  const sink = opts.quiet ? devNull : out;
  await displayJsonMessages(res, { out: sink, tty: !opts.quiet && !!out.isTTY });
}

export const devNull = { write: () => true, isTTY: false } as unknown as Writable & { isTTY?: boolean; columns?: number };

function isNameOnly(ref: string): boolean {
  try {
    const r = parseReference(ref);
    return !r.tag && !r.digest;
  } catch {
    return false;
  }
}

/** docker prints the fully qualified reference at the end: docker.io/library/busybox:latest. */
export function qualified(ref: string): string {
  try {
    const p = parseReference(ref);
    return p.digest ? `${p.fullName}@${p.digest}` : `${p.fullName}:${p.tag ?? 'latest'}`;
  } catch {
    return ref;
  }
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const ref = p.args[0]!;
  const all = p.bool('all-tags');
  if (all && /@|:[^/]*$/.test(ref)) {
    cli.warn('tag can\'t be used with --all-tags/-a');
    return 1;
  }
  const quiet = p.bool('quiet');
  // docker 20.10's pull: the tag it chose first, the reference it pulled last (quiet or not)
  if (!all && !quiet && isNameOnly(ref)) cli.print('Using default tag: latest');
  await pullImage(cli, ref, cli.out, { quiet, platform: p.str('platform'), all });
  cli.print(all ? parseRefName(ref) : qualified(ref));
  return 0;
}

export function parseRefName(ref: string): string {
  try { return parseReference(ref).fullName; } catch { return ref; }
}
