// --mount type=image (Engine API 1.48): an image's filesystem mounted read-only into a
// container. Each such mount is a snapshot of the image's layers of its own (the container's
// id and its index as the key), made and checked at create (the image must be here, its
// subpath a directory in it), mounted before each start, unmounted after the exit, removed
// with the container. The container's spec binds it read-only (spec.ts).
import { invalidArgument } from '../../common/errors.js';
import type { ImageStore } from '../../image/types.js';
import type { SnapshotDriver } from '../../storage/types.js';
import type { ContainerHooks } from './hooks.js';
import type { Container } from './model.js';
import { realpathUnder } from './rootfs.js';

/** The snapshot keys of a container's image mounts. */
export function imageMountKeys(rec: Pick<Container, 'id' | 'config'>): string[] {
  return (rec.config.imageMounts ?? []).map((_m, i) => `${rec.id}-image-${i}`);
}

export class ImageMountHooks implements ContainerHooks {
  constructor(private readonly d: { driver: SnapshotDriver; images: Pick<ImageStore, 'get'> }) {}

  async create(rec: Container): Promise<void> {
    const keys = imageMountKeys(rec);
    for (const [i, m] of (rec.config.imageMounts ?? []).entries()) {
      const img = await this.d.images.get(m.image);
      await this.d.driver.prepare(keys[i]!, img.chainIds);
      const root = await this.d.driver.mount(keys[i]!);
      try {
        if (m.subpath) await checkSubpath(root, m.subpath);
      } finally {
        await this.d.driver.unmount(keys[i]!);
      }
      Object.assign(m, { imageId: img.id, source: root });
    }
  }

  async createFailed(rec: Container): Promise<void> { await this.removeAll(rec); }

  async beforeStart(rec: Container): Promise<void> {
    for (const key of imageMountKeys(rec)) await this.d.driver.mount(key);
  }

  async stopped(rec: Container): Promise<void> {
    for (const key of imageMountKeys(rec)) await this.d.driver.unmount(key).catch(() => {});
  }

  async removed(rec: Container): Promise<void> { await this.removeAll(rec); }

  private async removeAll(rec: Container): Promise<void> {
    for (const key of imageMountKeys(rec)) await this.d.driver.remove(key).catch(() => {});
  }
}

/** An image's subpath must be inside it once its symlinks are followed (a directory or a file, as dockerd mounts either). */
async function checkSubpath(root: string, subpath: string): Promise<void> {
  const p = await realpathUnder(root, subpath);
  if (!p?.inside) throw invalidArgument(`invalid mount config for type "image": subpath ${JSON.stringify(subpath)} is not in the image`);
}
