// The stock docker CLI's image commands against tsulad, line for line as against dockerd
// 20.10: images and its filters, image inspect's fields, history, tag/rmi and their
// conflicts, image prune, save/load, import, and pull from a local registry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { TestRegistry } from '../helpers/registry.js';

requirePrerequisites('docker-cli-images', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/docker-registry': 'docker-registry', '/usr/bin/skopeo': 'skopeo' } });

let d: TestDaemon;
let reg: TestRegistry;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
  reg = await TestRegistry.start();
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'bb:1');
  await reg.push(path.join(IMAGES, 'layered.tar'), 'bb:2');
});
after(async () => {
  await reg?.stop();
  await d?.destroy();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

async function fails(args: string[], stderr: string | RegExp, code = 1): Promise<string> {
  const r = await docker(d, args);
  assert.equal(r.code, code, `docker ${args.join(' ')}: ${r.stdout} ${r.stderr}`);
  if (typeof stderr === 'string') assert.equal(r.stderr, stderr); else assert.match(r.stderr, stderr);
  return r.stdout;
}

const BUSYBOX = 'sha256:0b370d19aa295155e7aea42417a9dded6ce03831c4b71d0673d99afac8de344a';
const SHORT = BUSYBOX.slice(7, 19);

/** A container of busybox committed with a label: a newer image (for before/since) of its own. */
async function commitLabelled(label: string): Promise<string> {
  await ok(['create', '--name', `mk-${label}`, 'busybox', 'true']);
  try {
    return (await ok(['commit', '-c', `LABEL ${label}=yes`, `mk-${label}`])).trim();
  } finally {
    await ok(['rm', `mk-${label}`]);
  }
}

test('docker images: columns, -q, --no-trunc, --digests, {{json .}} fields, filters, dangling as <none>', async () => {
  const newer = await commitLabelled('lab');
  const short = newer.slice(7, 19);
  try {
    assert.match(await ok(['images']), /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n/);
    assert.match(await ok(['images']), new RegExp(`\n<none> +<none> +${short} +\\S.* ago +\\S+\nbusybox +latest +${SHORT} +`));
    assert.equal(await ok(['images', '-q']), `${short}\n${SHORT}\n`);
    assert.match(await ok(['images', '--no-trunc', 'busybox']), new RegExp(`busybox +latest +${BUSYBOX} `));
    assert.match(await ok(['images', '--digests', 'busybox']), /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE\nbusybox +latest +<none> +/);
    const row = JSON.parse(await ok(['images', '--format', '{{json .}}', 'busybox'])) as Record<string, string>;
    assert.deepEqual(Object.keys(row).sort(), ['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']);
    assert.equal(row.Digest, '<none>');
    const list = async (f: string) => (await ok(['images', '--filter', f, '--format', '{{.Repository}}:{{.Tag}}:{{.ID}}'])).trim().split('\n').filter(Boolean);
    assert.deepEqual(await list('dangling=true'), [`<none>:<none>:${short}`]);
    assert.deepEqual(await list('dangling=false'), [`busybox:latest:${SHORT}`]);
    assert.deepEqual(await list('reference=busy*'), [`busybox:latest:${SHORT}`]);
    assert.deepEqual(await list('label=lab'), [`<none>:<none>:${short}`]);
    assert.deepEqual(await list('label=lab=no'), []);
    assert.deepEqual(await list('before=' + short), [`busybox:latest:${SHORT}`]);
    assert.deepEqual(await list('since=busybox'), [`<none>:<none>:${short}`]);
    await fails(['images', '--filter', 'bogus=1'], 'Error response from daemon: Invalid filter \'bogus\'\n');
    await fails(['images', '--filter', 'since=nope'], 'Error response from daemon: No such image: nope:latest\n');
  } finally {
    await ok(['rmi', newer]);
  }
});

test('docker image inspect: every field of dockerd\'s ImageInspect, whole Config structs, LastTagTime; a missing image', async () => {
  const [img] = JSON.parse(await ok(['image', 'inspect', 'busybox'])) as Array<Record<string, unknown>>;
  assert.deepEqual(Object.keys(img!), ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig',
    'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'VirtualSize', 'GraphDriver', 'RootFS', 'Metadata']);
  assert.equal(img!.Id, BUSYBOX);
  assert.deepEqual(img!.RepoDigests, []);
  assert.equal(typeof img!.Size, 'number');
  const keys = ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels'];
  assert.deepEqual(Object.keys(img!.Config as object), keys);
  assert.deepEqual(Object.keys(img!.ContainerConfig as object), keys);
  assert.deepEqual((img!.Config as Record<string, unknown>).Cmd, ['sh']);
  // a template on a field the image never set works, as with dockerd
  assert.equal(await ok(['image', 'inspect', '-f', '{{.Config.User}}|{{.Config.Entrypoint}}|{{.ContainerConfig.Cmd}}', 'busybox']), '|[]|[]\n');
  assert.equal(await ok(['image', 'inspect', '-f', '{{.Metadata.LastTagTime}}', 'busybox']), '0001-01-01 00:00:00 +0000 UTC\n');
  await ok(['tag', 'busybox', 'stamped:1']);
  const stamp = (await ok(['image', 'inspect', '-f', '{{json .Metadata.LastTagTime}}', 'stamped:1'])).trim();
  assert.ok(Math.abs(Date.parse(JSON.parse(stamp) as string) - Date.now()) < 60_000, stamp);
  await ok(['rmi', 'stamped:1']);
  // the CLI names what it was given; history asks the daemon, which adds the default tag
  assert.equal(await fails(['image', 'inspect', 'nope'], 'Error: No such image: nope\n'), '[]\n');
  await fails(['history', 'nope'], 'Error response from daemon: No such image: nope:latest\n');
});

test('docker history: rows newest first, <missing> below the image, -q, --no-trunc, --format', async () => {
  await ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  try {
    const out = (await ok(['history', 'layered'])).split('\n');
    assert.match(out[0]!, /^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$/);
    assert.match(out[1]!, /^[0-9a-f]{12} +\S.* ago +layer 2: whiteouts +\d+B/);
    assert.match(out[3]!, /^<missing> +\S.* ago +busybox-static v1.35.0 +1.98MB/);
    const q = (await ok(['history', '-q', 'layered'])).trim().split('\n');
    assert.equal(q.length, 3);
    assert.deepEqual(q.slice(1), ['<missing>', '<missing>']);
    assert.match(await ok(['history', '--no-trunc', 'layered']), /\nsha256:[0-9a-f]{64} /);
    const row = JSON.parse((await ok(['history', '--format', '{{json .}}', 'layered'])).split('\n')[0]!) as Record<string, string>;
    assert.deepEqual(Object.keys(row).sort(), ['Comment', 'CreatedAt', 'CreatedBy', 'CreatedSince', 'ID', 'Size']);
    // GraphDriver.Data as overlay2's of the top layer: its diff the UpperDir, the others below
    // it (top first) the LowerDir; one layer (busybox): no LowerDir
    const gd = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .GraphDriver}}', 'layered'])) as { Name: string; Data: Record<string, string> };
    assert.equal(gd.Name, 'overlay2');
    assert.deepEqual(Object.keys(gd.Data), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
    const layers = (JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'layered'])) as string[]).length;
    const lowers = gd.Data.LowerDir!.split(':');
    assert.equal(lowers.length, layers - 1);
    for (const dir of [gd.Data.UpperDir!, ...lowers]) assert.ok((await fs.stat(dir)).isDirectory(), dir);
    assert.ok((await fs.stat(path.join(lowers[lowers.length - 1]!, 'bin/busybox'))).isFile(), 'the bottom layer is last');
    const one = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .GraphDriver.Data}}', 'busybox'])) as Record<string, string>;
    assert.deepEqual(Object.keys(one), ['MergedDir', 'UpperDir', 'WorkDir']);
  } finally {
    await ok(['rmi', 'layered']);
  }
});

test('docker tag and rmi: errors, Untagged/Deleted lines, dockerd\'s conflicts for images containers use', async () => {
  await fails(['tag', 'nope', 'x'], 'Error response from daemon: No such image: nope:latest\n');
  await fails(['tag', 'busybox', 'Bad:1'], /"Bad:1" is not a valid repository\/tag: invalid reference format: repository name must be lowercase/);
  await ok(['tag', 'busybox', 'one:1']);
  await ok(['tag', 'busybox', 'two:1']);
  await fails(['rmi', SHORT], `Error response from daemon: conflict: unable to delete ${SHORT} (must be forced) - image is referenced in multiple repositories\n`);
  assert.equal(await ok(['rmi', 'one:1']), 'Untagged: one:1\n');
  await fails(['rmi', 'nope'], 'Error: No such image: nope\n');
  // with -f a missing image is only a message
  const r = await docker(d, ['rmi', '-f', 'nope']);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, 'Error: No such image: nope\n');

  await ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  const lay = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'layered'])).trim();
  const layShort = lay.slice(7, 19);
  const stopped = (await ok(['create', 'layered', 'true'])).trim();
  const running = (await ok(['run', '-d', 'two:1', 'sleep', '60'])).trim();
  try {
    await fails(['rmi', 'layered'], `Error response from daemon: conflict: unable to remove repository reference "layered" (must force) - container ${stopped.slice(0, 12)} is using its referenced image ${layShort}\n`);
    await fails(['rmi', layShort], `Error response from daemon: conflict: unable to delete ${layShort} (must be forced) - image is being used by stopped container ${stopped.slice(0, 12)}\n`);
    // a running container's image is a hard conflict by id, force or not
    for (const args of [['rmi', SHORT], ['rmi', '-f', SHORT]]) {
      await fails(args, `Error response from daemon: conflict: unable to delete ${SHORT} (cannot be forced) - image is being used by running container ${running.slice(0, 12)}\n`);
    }
  } finally {
    await ok(['rm', '-f', stopped, running]);
  }
  // two names of one image: untags, then the last name deletes it and its layers
  await ok(['tag', 'layered', 'lay:2']);
  assert.equal(await ok(['rmi', 'layered']), 'Untagged: layered:latest\n');
  const gone = (await ok(['rmi', 'lay:2'])).split('\n');
  assert.equal(gone[0], 'Untagged: lay:2');
  assert.equal(gone[1], `Deleted: ${lay}`);
  assert.ok(gone.slice(2).filter(Boolean).every((l) => /^Deleted: sha256:[0-9a-f]{64}$/.test(l)), gone.join('\n'));
  assert.equal(await ok(['rmi', 'two:1']), 'Untagged: two:1\n');
});

test('a committed image\'s parent: Parent, history ids, rmi refuses the parent, the child takes it along (not with --no-prune)', async () => {
  const base = (await ok(['create', '--name', 'base', 'busybox', 'true'])).trim();
  const child = (await ok(['commit', '-c', 'CMD ["echo"]', 'base', 'child:1'])).trim();
  await ok(['rm', 'base']);
  try {
    assert.equal(await ok(['image', 'inspect', '-f', '{{.Parent}}', 'child:1']), `${BUSYBOX}\n`);
    // the container and its own config (before -c) as dockerd's Container and ContainerConfig
    assert.equal(await ok(['image', 'inspect', '-f', '{{.Container}} {{json .ContainerConfig.Cmd}} {{json .Config.Cmd}}', 'child:1']), `${base} ["true"] ["echo"]\n`);
    assert.equal(await ok(['history', '-q', 'child:1']), `${child.slice(7, 19)}\n${SHORT}\n`);
    await fails(['rmi', '-f', SHORT], `Error response from daemon: conflict: unable to delete ${SHORT} (cannot be forced) - image has dependent child images\n`);
    await ok(['tag', 'busybox', 'base:1']);
    assert.equal(await ok(['rmi', 'base:1']), 'Untagged: base:1\n');
    // by its last name the parent is only untagged: then an intermediate image, listed with -a only
    assert.equal(await ok(['rmi', 'busybox']), 'Untagged: busybox:latest\n');
    assert.equal(await ok(['images', '-q']), `${child.slice(7, 19)}\n`);
    assert.equal(await ok(['images', '-aq']), `${child.slice(7, 19)}\n${SHORT}\n`);
    assert.equal(await ok(['images', '-aq', '--filter', 'dangling=true']), '');
    assert.equal(await ok(['image', 'prune', '-f']), 'Total reclaimed space: 0B\n');
    const out = (await ok(['rmi', 'child:1'])).split('\n');
    assert.equal(out[0], 'Untagged: child:1');
    assert.ok(out.includes(`Deleted: ${child}`) && out.includes(`Deleted: ${BUSYBOX}`), out.join('\n'));
    // --no-prune leaves the nameless parent
    await d.loadBusybox();
    await ok(['create', '--name', 'base', 'busybox', 'true']);
    await ok(['commit', 'base', 'child:2']);
    await ok(['rm', 'base']);
    await ok(['rmi', 'busybox']);
    assert.doesNotMatch(await ok(['rmi', '--no-prune', 'child:2']), new RegExp(BUSYBOX));
    assert.equal(await ok(['images', '-q']), `${SHORT}\n`);
  } finally {
    await docker(d, ['rm', '-f', 'base']);
    await docker(d, ['rmi', 'child:1', 'child:2']);
    await d.loadBusybox();
  }
});

test('docker image prune: dangling only by default, label!= and until filters, -a spares used images (their last name)', async () => {
  assert.equal(await ok(['image', 'prune', '-f']), 'Total reclaimed space: 0B\n');
  const keep = await commitLabelled('keep');
  const drop = await commitLabelled('drop');
  try {
    const out = await ok(['image', 'prune', '-f', '--filter', 'label!=keep']);
    assert.match(out, new RegExp(`^Deleted Images:\ndeleted: ${drop}\n(deleted: sha256:[0-9a-f]{64}\n)*\nTotal reclaimed space: \\S+\n$`));
    assert.equal(await ok(['image', 'prune', '-f', '--filter', 'until=2020-01-01T00:00:00Z']), 'Total reclaimed space: 0B\n');
    await fails(['image', 'prune', '-f', '--filter', 'bogus=1'], 'Error response from daemon: Invalid filter \'bogus\'\n');
    // until takes any Go duration, once (dockerd's getUntilFromPruneFilters), for every prune alike
    for (const kind of ['image', 'container', 'network']) {
      assert.match(await ok([kind, 'prune', '-f', '--filter', 'until=1h30m']), /Total reclaimed space: |^$/);
      assert.match(await ok([kind, 'prune', '-f', '--filter', 'until=1.5h']), /Total reclaimed space: |^$/);
      await fails([kind, 'prune', '-f', '--filter', 'until=1h', '--filter', 'until=2h'], 'Error response from daemon: more than one until filter specified\n');
      await fails([kind, 'prune', '-f', '--filter', 'until=xyz'], 'Error response from daemon: failed to parse value as time or duration: "xyz"\n');
    }
    // a used image with several names: dockerd deletes them in lexical order and the last one's
    // delete fails (in use), so that one stays (moby's TestPruneDontDeleteUsedImage, TestPruneLexographicalOrder)
    const user = (await ok(['create', SHORT, 'true'])).trim();
    for (const t of ['h', 'a', 'z']) await ok(['tag', 'busybox', `busybox:${t}`]);
    try {
      const all = await ok(['image', 'prune', '-a', '-f']);
      assert.match(all, new RegExp(`deleted: ${keep}\n`));
      assert.match(all, /untagged: busybox:a\nuntagged: busybox:h\nuntagged: busybox:latest\n/);
      assert.equal((await ok(['images', '-q'])).trim(), SHORT, 'the used image stays');
      assert.equal((await ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])).trim(), 'busybox:z', 'with the last of its names');
      await ok(['tag', 'busybox:z', 'busybox:latest']);
      await ok(['rmi', 'busybox:z']);
    } finally {
      await ok(['rm', user]);
    }
    assert.equal((await ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])).trim(), 'busybox:latest');
  } finally {
    for (const id of [keep, drop]) await docker(d, ['rmi', id]);
  }
});

test('docker save / load: several names in one archive, a bare name is every tag, the Loaded lines; dockerd\'s errors', async () => {
  const dir = path.join(d.dir, 'saves');
  await fs.mkdir(dir, { recursive: true });
  await ok(['tag', 'busybox', 'busybox:two']);
  await ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  try {
    await ok(['save', '-o', path.join(dir, 'all.tar'), 'busybox', 'layered']);
    await ok(['rmi', 'busybox:two', 'layered']);
    const loaded = await ok(['load', '-i', path.join(dir, 'all.tar')]);
    assert.deepEqual(loaded.trim().split('\n').sort(), ['Loaded image: busybox:latest', 'Loaded image: busybox:two', 'Loaded image: layered:latest']);
    assert.deepEqual((await ok(['load', '-q', '-i', path.join(dir, 'all.tar')])).trim().split('\n').sort(),
      ['Loaded image: busybox:latest', 'Loaded image: busybox:two', 'Loaded image: layered:latest']);
    // an image saved by id comes back by id
    await ok(['save', '-o', path.join(dir, 'id.tar'), SHORT]);
    assert.match(await ok(['load', '-i', path.join(dir, 'id.tar')]), new RegExp(`^Loaded image ID: ${BUSYBOX}\n$`));
  } finally {
    await docker(d, ['rmi', 'busybox:two', 'layered']);
  }
  // a name loaded over another image's: dockerd says so, quiet or not
  await ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  const lay = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'layered'])).trim();
  await ok(['tag', 'layered', 'busybox']);
  assert.equal(await ok(['load', '-q', '-i', path.join(IMAGES, 'busybox.tar')]),
    `The image busybox:latest already exists, renaming the old one with ID ${lay} to empty string\nLoaded image: busybox:latest\n`);
  await ok(['rmi', 'layered']);
  await fails(['save', '-o', path.join(dir, 'x.tar'), 'nope:1'], 'Error response from daemon: reference does not exist\n');
  // dockerd reports a failed load in the stream: the CLI prints the message bare, exit 1
  await fs.writeFile(path.join(dir, 'garbage.tar'), 'garbage\n'.repeat(200));
  const out = await fails(['load', '-i', path.join(dir, 'garbage.tar')], /^(?!Error response from daemon)\S.*archive.*\n$/);
  assert.equal(out, '');
});

test('docker pull from a registry: the lines dockerd prints, up to date, by digest, -a, a missing tag; docker search', async () => {
  const R = reg.host;
  const first = (await ok(['pull', `${R}/bb:2`])).split('\n');
  assert.equal(first[0], '2: Pulling from bb');
  for (const s of ['Pulling fs layer', 'Verifying Checksum', 'Download complete', 'Pull complete']) assert.ok(first.some((l) => l.endsWith(`: ${s}`)), s);
  const { digest } = await reg.getManifest('bb', '2');
  assert.deepEqual(first.slice(-4), [`Digest: ${digest}`, `Status: Downloaded newer image for ${R}/bb:2`, `${R}/bb:2`, '']);
  assert.equal(await ok(['pull', `${R}/bb:2`]), `2: Pulling from bb\nDigest: ${digest}\nStatus: Image is up to date for ${R}/bb:2\n${R}/bb:2\n`);
  assert.equal(await ok(['pull', `${R}/bb@${digest}`]),
    `${digest}: Pulling from bb\nDigest: ${digest}\nStatus: Image is up to date for ${R}/bb@${digest}\n${R}/bb@${digest}\n`);
  assert.match(await ok(['images', '--digests', `${R}/bb`]), new RegExp(`${R}/bb +2 +${digest} `));
  // -a: a Digest line per tag, one Status for the repository
  const all = await ok(['pull', '-a', `${R}/bb`]);
  assert.equal(all.match(/^Status: /gm)?.length, 1, all);
  assert.match(all, new RegExp(`^1: Pulling from bb\n(.*\n)*Digest: sha256:.*\n2: Pulling from bb\nDigest: ${digest}\nStatus: Downloaded newer image for ${R}/bb\n${R}/bb\n$`));
  assert.equal((await ok(['pull', '-a', `${R}/bb`])).match(/^Status: .*$/m)?.[0], `Status: Image is up to date for ${R}/bb`);
  await fails(['pull', `${R}/bb:nope`], `Error response from daemon: manifest for ${R}/bb:nope not found: manifest unknown: manifest unknown\n`);
  // an image known only by its digest lists as <none> with that digest
  await ok(['rmi', `${R}/bb:1`, `${R}/bb:2`]);
  await ok(['pull', `${R}/bb@${digest}`]);
  assert.match(await ok(['images', '--digests', `${R}/bb`]), new RegExp(`${R}/bb +<none> +${digest} `));
  await ok(['rmi', `${R}/bb@${digest}`]);
  await fails(['search', 'busybox'], /^Error response from daemon: searching a registry \(docker search\) is not supported by tsulad/);
});

test('a pulled image whose layer was here already, pushed back: the registry\'s own blob is reused (Layer already exists / Mounted from), as dockerd\'s v2 metadata does', async () => {
  const R = reg.host;
  // busybox's layer is here uncompressed (loaded); bb:1's blob is skopeo's gzip of it
  await ok(['pull', `${R}/bb:1`]);
  const theirs = ((await reg.getManifest('bb', '1')).json.layers as Array<{ digest: string }>).map((l) => l.digest);
  try {
    assert.match(await ok(['push', `${R}/bb:1`]), /: Layer already exists\n/);
    assert.deepEqual(((await reg.getManifest('bb', '1')).json.layers as Array<{ digest: string }>).map((l) => l.digest), theirs);
    await ok(['tag', `${R}/bb:1`, `${R}/bbcopy:1`]);
    assert.match(await ok(['push', `${R}/bbcopy:1`]), /: Mounted from bb\n/);
    assert.deepEqual(((await reg.getManifest('bbcopy', '1')).json.layers as Array<{ digest: string }>).map((l) => l.digest), theirs);
    assert.equal(await ok(['run', '--rm', `${R}/bbcopy:1`, 'echo', 'ran']), 'ran\n');
  } finally {
    await docker(d, ['rmi', `${R}/bb:1`, `${R}/bbcopy:1`]);
  }
});

test('docker import: an exported container as a new image (stdin, a gzip file), --change and --message; dockerd\'s refusals', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-import-'));
  try {
    await ok(['run', '--name', 'exp', 'busybox', 'sh', '-c', 'echo data > /marker']);
    await ok(['export', '-o', path.join(dir, 'fs.tar'), 'exp']);
    const tar = await fs.readFile(path.join(dir, 'fs.tar'));
    const r = await docker(d, ['import', '-c', 'CMD ["cat","/marker"]', '-c', 'ENV A=1', '-m', 'from the test', '-', 'imp:1'], { input: tar });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(['run', '--rm', 'imp:1']), 'data\n');
    assert.equal(await ok(['run', '--rm', 'imp:1', 'sh', '-c', 'echo $A']), '1\n');
    assert.equal(await ok(['inspect', '-f', '{{.Id}}|{{.Comment}}|{{.Parent}}|{{len .RootFS.Layers}}|{{.Os}}', 'imp:1']), `${id}|from the test||1|linux\n`);
    assert.equal(await ok(['history', '--format', '{{.Comment}}', 'imp:1']), 'from the test\n');
    // a gzip file, named on the command line: dockerd's default message
    await fs.writeFile(path.join(dir, 'fs.tgz'), gzipSync(tar));
    await ok(['import', path.join(dir, 'fs.tgz'), 'imp:gz']);
    assert.equal(await ok(['inspect', '-f', '{{.Comment}}', 'imp:gz']), 'Imported from -\n');
    assert.equal(await ok(['run', '--rm', 'imp:gz', 'cat', '/marker']), 'data\n');

    await fs.writeFile(path.join(dir, 'short'), 'vm\n');
    await fails(['import', path.join(dir, 'short'), 'bad:1'], /Error response from daemon: docker import: not a tar archive \(3 bytes/);
    const cut = await docker(d, ['import', '-', 'bad:2'], { input: gzipSync(tar).subarray(0, 50_000) });
    assert.equal(cut.code, 1);
    assert.match(cut.stderr, /the gzip data is corrupt or cut short/);
    // a gzip that ends in its header, and one whose data is garbage: refused, the daemon lives on
    for (const input of [Buffer.from([0x1f, 0x8b]), Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.from('garbage'.repeat(20))])]) {
      const bad = await docker(d, ['import', '-', 'bad:4'], { input });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /the gzip data is corrupt or cut short/);
    }
    assert.equal((await ok(['version', '--format', '{{.Server.Os}}'])).trim(), 'linux');
    const torn = await docker(d, ['import', '-', 'bad:3'], { input: tar.subarray(0, 100_000) });
    assert.equal(torn.code, 1);
    assert.match(torn.stderr, /truncated or corrupt/);
    const digest = await docker(d, ['import', '-', `imp@sha256:${'0'.repeat(64)}`], { input: tar });
    assert.equal(digest.stderr, 'Error response from daemon: cannot import digest reference\n');
    // from a URL: tsulad downloads it (a redirect followed; the line names the URL asked for), as dockerd does
    const web = http.createServer((q, a) => {
      if (q.url === '/old.tgz') { a.writeHead(302, { Location: '/fs.tgz' }); a.end(); return; }
      if (q.url === '/fs.tgz') { a.end(gzipSync(tar)); return; }
      a.writeHead(404); a.end('no');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(web.address() as import('node:net').AddressInfo).port}`;
    try {
      const got = await ok(['import', '-c', 'CMD ["cat","/marker"]', `${base}/old.tgz`, 'imp:url']);
      assert.match(got, new RegExp(`^Downloading from ${base}/old.tgz\\nsha256:[0-9a-f]{64}\\n$`));
      assert.equal(await ok(['run', '--rm', 'imp:url']), 'data\n');
      assert.equal(await ok(['inspect', '-f', '{{.Comment}}', 'imp:url']), `Imported from ${base}/old.tgz\n`);
      await fails(['import', `${base}/missing.tar`], `Error response from daemon: failed to GET ${base}/missing.tar with status 404 Not Found: no\n`);
    } finally {
      web.close();
      await docker(d, ['rmi', 'imp:url']);
    }
    await fails(['import', 'http://127.0.0.1:1/fs.tar'], /^Error response from daemon: Get "http:\/\/127\.0\.0\.1:1\/fs\.tar": dial tcp 127\.0\.0\.1:1: connect: connection refused/);
    // nothing of the refused imports stayed
    assert.equal(await ok(['images', '-q', '--filter', 'dangling=true']), '');
    assert.doesNotMatch(await ok(['images', '--format', '{{.Repository}}:{{.Tag}}']), /bad:/);
  } finally {
    await docker(d, ['rm', '-f', 'exp']);
    await docker(d, ['rmi', 'imp:1', 'imp:gz']);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('dockerd\'s words: rmi of a blank name; import from a URL nobody answers (Go\'s dial error)', async () => {
  const blank = await d.api('DELETE', `/images/${encodeURIComponent(' ')}`);
  assert.equal(blank.status, 400);
  assert.equal(JSON.parse(blank.body).message, 'image name cannot be blank');
  const r = await docker(d, ['import', 'http://127.0.0.1:1/x.tar']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Get "http:\/\/127\.0\.0\.1:1\/x\.tar": dial tcp 127\.0\.0\.1:1: connect: connection refused/);
});
