// Test images derived from build/images/busybox.tar without a builder: the same layer, plus
// an optional layer of files, and config fields a Dockerfile would set (EXPOSE, VOLUME, ENV),
// written as a docker-archive that `docker load` / `tsula load` take.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGES } from './daemon.js';

export interface DerivedImage {
  /** name:tag */
  tag: string;
  /** Config fields merged over busybox's (ExposedPorts, Volumes, Env, …). */
  config?: Record<string, unknown>;
  /** Files of an extra layer: path in the image → content. */
  files?: Record<string, string>;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Write the archive to `out`. */
export async function deriveBusybox(img: DerivedImage, out: string): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-img-'));
  try {
    execFileSync('tar', ['-xf', path.join(IMAGES, 'busybox.tar'), '-C', tmp]);
    const [manifest] = JSON.parse(await fs.readFile(path.join(tmp, 'manifest.json'), 'utf8')) as Array<{ Config: string; Layers: string[] }>;
    const config = JSON.parse(await fs.readFile(path.join(tmp, manifest!.Config), 'utf8')) as {
      config: Record<string, unknown>; rootfs: { diff_ids: string[] }; history?: unknown[];
    };
    const layers = [...manifest!.Layers];
    if (img.files && Object.keys(img.files).length) {
      const root = path.join(tmp, 'layer-root');
      for (const [p, text] of Object.entries(img.files)) {
        await fs.mkdir(path.dirname(path.join(root, p)), { recursive: true });
        await fs.writeFile(path.join(root, p), text);
      }
      const tarFile = path.join(tmp, 'extra.tar');
      execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-cf', tarFile, '-C', root, '.']);
      const digest = sha256(await fs.readFile(tarFile));
      await fs.rename(tarFile, path.join(tmp, `${digest}.tar`));
      layers.push(`${digest}.tar`);
      config.rootfs.diff_ids.push(`sha256:${digest}`);
    }
    config.config = { ...config.config, ...img.config };
    delete config.history; // one entry per layer would be wanted; none is fine
    const text = JSON.stringify(config);
    const configFile = `${sha256(text)}.json`;
    await fs.writeFile(path.join(tmp, configFile), text);
    await fs.writeFile(path.join(tmp, 'manifest.json'), JSON.stringify([{ Config: configFile, RepoTags: [img.tag], Layers: layers }]));
    await fs.rm(path.join(tmp, 'repositories'), { force: true });
    const entries = ['manifest.json', configFile, ...layers];
    execFileSync('tar', ['-cf', out, '-C', tmp, ...entries]);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
