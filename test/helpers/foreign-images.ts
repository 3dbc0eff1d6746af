// Test images made by other tools than tsula: an OCI layout built with umoci (insert of a
// rootfs at "/", insert at /opt, a whiteout, a repack, a raw layer with absolute names), and
// a docker-25-style `docker save` archive written by hand from such a layout (no docker
// engine runs here). skopeo turns the layout into the other forms in the tests themselves.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const execFileP = promisify(execFile);

export async function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  try {
    return (await execFileP(cmd, args, { cwd: opts.cwd, maxBuffer: 64 << 20 })).stdout;
  } catch (e) {
    const x = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${x.stderr || x.message}`);
  }
}

/** What every image built here shows inside a container (see CHECK). */
export const EXPECTED = 'hello from umoci\nx\nabs\nrepacked\ngone-absent\n';
export const CHECK = ['sh', '-c', 'cat /etc/hello /opt/sub/x /srv/abs.txt /etc/repacked; test -e /etc/gone || echo gone-absent'];

/**
 * An OCI layout at `<dir>/oci` with the image `img` (5 layers, all made by umoci):
 * rootfs inserted at "/" (its layer starts with the entry "/" and, as umoci writes them,
 * has no end-of-archive marker), a dir inserted at /opt, a whiteout of /etc/gone, a repack
 * after a change in an unpacked bundle, and a layer with absolute names (/srv/...) added raw.
 */
export async function buildUmociImage(dir: string): Promise<string> {
  const rootfs = path.join(dir, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await fs.mkdir(path.join(rootfs, 'etc'), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'cat', 'test', 'ls', 'echo']) await fs.symlink('busybox', path.join(rootfs, 'bin', applet));
  await fs.writeFile(path.join(rootfs, 'etc/hello'), 'hello from umoci\n');
  await fs.writeFile(path.join(rootfs, 'etc/gone'), 'removed by a later layer\n');
  const extra = path.join(dir, 'extra');
  await fs.mkdir(path.join(extra, 'sub'), { recursive: true });
  await fs.writeFile(path.join(extra, 'sub/x'), 'x\n');
  const abs = path.join(dir, 'abs');
  await fs.mkdir(path.join(abs, 'srv'), { recursive: true });
  await fs.writeFile(path.join(abs, 'srv/abs.txt'), 'abs\n');
  // GNU tar with -P keeps the leading "/" it is told to add: entries "/srv/", "/srv/abs.txt".
  await sh('tar', ['-C', abs, '-P', '--transform=s,^,/,', '-cf', path.join(dir, 'abs.tar'), 'srv']);

  const image = `${path.join(dir, 'oci')}:img`;
  await sh('umoci', ['init', '--layout', path.join(dir, 'oci')]);
  await sh('umoci', ['new', '--image', image]);
  await sh('umoci', ['insert', '--image', image, rootfs, '/']);
  await sh('umoci', ['insert', '--image', image, extra, '/opt']);
  await sh('umoci', ['insert', '--image', image, '--whiteout', '/etc/gone']);
  const bundle = path.join(dir, 'bundle');
  await sh('umoci', ['unpack', '--image', image, bundle]);
  await fs.writeFile(path.join(bundle, 'rootfs/etc/repacked'), 'repacked\n');
  await sh('umoci', ['repack', '--image', image, bundle]);
  await fs.rm(bundle, { recursive: true, force: true });
  await sh('umoci', ['raw', 'add-layer', '--image', image, path.join(dir, 'abs.tar')]);
  await sh('umoci', ['config', '--image', image, '--config.cmd', 'sh']);
  return image;
}

const digest = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice('sha256:'.length);

/**
 * Write `out` as docker >= 25 `docker save` does, from the OCI layout's image `tag`: one OCI
 * layout (blobs/sha256/..., index.json, oci-layout) whose layers are the uncompressed diffs,
 * plus the legacy manifest.json whose Config and Layers are paths into blobs/, and
 * repositories. With `legacy: false` it leaves out manifest.json and repositories (what is
 * left is a plain OCI archive with uncompressed layers).
 */
export async function dockerSave25(layout: string, tag: string, name: string, out: string, opts: { legacy?: boolean } = {}): Promise<void> {
  const blob = (d: string) => fs.readFile(path.join(layout, 'blobs/sha256', hex(d)));
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!desc) throw new Error(`no ${tag} in ${layout}`);
  const src = JSON.parse((await blob(desc.digest)).toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const work = `${out}.d`;
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(path.join(work, 'blobs/sha256'), { recursive: true });
  const put = async (data: Buffer | string): Promise<{ digest: string; size: number }> => {
    const d = digest(data);
    await fs.writeFile(path.join(work, 'blobs/sha256', hex(d)), data);
    return { digest: d, size: Buffer.byteLength(data) };
  };
  const config = await put(await blob(src.config.digest));
  const layers: Array<{ digest: string; size: number }> = [];
  for (const l of src.layers) layers.push(await put(gunzipSync(await blob(l.digest))));
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  });
  const m = await put(manifest);
  const [repo, t] = [name.slice(0, name.lastIndexOf(':')), name.slice(name.lastIndexOf(':') + 1)];
  await fs.writeFile(path.join(work, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m,
      annotations: { 'io.containerd.image.name': `docker.io/${repo}:${t}`, 'org.opencontainers.image.ref.name': t },
    }],
  }));
  await fs.writeFile(path.join(work, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const names = ['blobs', 'index.json', 'oci-layout'];
  if (opts.legacy !== false) {
    await fs.writeFile(path.join(work, 'manifest.json'), JSON.stringify([{
      Config: `blobs/sha256/${hex(config.digest)}`, RepoTags: [name], Layers: layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
    }]));
    await fs.writeFile(path.join(work, 'repositories'), JSON.stringify({ [repo]: { [t]: hex(layers[layers.length - 1]!.digest) } }));
    names.push('manifest.json', 'repositories');
  }
  await sh('tar', ['-C', work, '-cf', out, ...names]);
  await fs.rm(work, { recursive: true, force: true });
}
