// A container's sizes as `docker inspect -s` and `docker ps -s` show them: SizeRw, the bytes
// of the files its writable layer holds (apparent sizes, a hard link once, as docker's
// directory.Size), and SizeRootFs, that plus its image's.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from '../containers/model.js';
import type { ContainerService } from '../containers/service.js';

async function filesSize(dir: string): Promise<number> {
  let total = 0;
  const seen = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p).catch(() => null);
      if (!st) continue;
      if (st.isDirectory()) { await walk(p); continue; }
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}

export async function containerSizes(cs: ContainerService, c: Container): Promise<{ SizeRw: number; SizeRootFs: number }> {
  const driver = cs.d.driver as { writableDir?(key: string): string };
  const rw = driver.writableDir ? await filesSize(driver.writableDir(c.id)) : 0;
  const image = await cs.d.images.get(c.image).then((i) => i.size, () => 0);
  return { SizeRw: rw, SizeRootFs: rw + image };
}
