// `tsula push`: POST /images/{name}/push?tag=TAG, a JSON-lines progress stream, as the docker
// CLI sends it (credentials saved by `tsula login` in X-Registry-Auth; docker sends the
// header always, "{}" encoded when it has none, and dockerd refuses a push without it).
import type { CommandSpec, Parsed } from '../args.js';
import type { Cli } from '../context.js';
import { displayJsonMessages } from '../jsonmessage.js';
import { parseRef } from '../reference.js';
import { imageSeg } from '../client.js';
import { devNull, parseRefName, qualified, registryAuthHeader } from './pull.js';

export const spec: CommandSpec = {
  name: 'push',
  usage: '[OPTIONS] NAME[:TAG]',
  desc: 'Push an image or a repository to a registry',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { long: 'all-tags', short: 'a', kind: 'bool', desc: 'Push all tagged images in the repository' },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress verbose output' },
  ],
};

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const ref = p.args[0]!;
  const all = p.bool('all-tags');
  const quiet = p.bool('quiet');
  const r = parseRef(ref);
  if (r.digest) {
    cli.warn(`invalid reference format: a push names a tag, not a digest: ${ref}`);
    return 1;
  }
  if (all && r.tag) {
    cli.warn('tag can\'t be used with --all-tags/-a');
    return 1;
  }
  const tag = all ? undefined : (r.tag ?? 'latest');
  if (!all && !r.tag && !quiet) cli.print('Using default tag: latest');
  const auth = await registryAuthHeader(ref);
  const res = await cli.client.request({
    method: 'POST',
    path: `/images/${imageSeg(r.name)}/push`,
    query: { tag },
    headers: { 'X-Registry-Auth': auth['X-Registry-Auth'] ?? Buffer.from('{}').toString('base64url') },
  });
  await displayJsonMessages(res, { out: quiet ? devNull : cli.out, tty: !quiet && !!cli.out.isTTY });
  // docker push -q: only the reference pushed
  if (quiet) cli.print(all ? parseRefName(ref) : qualified(ref));
  return 0;
}
