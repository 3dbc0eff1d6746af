// The image store's docker load and docker save. Neither waits on a client under the store's
// lock: a load reads the client's whole archive before it queues, and a save pins the blobs it
// will read and streams outside the queue.
// The archive reader and writer (tar, zlib) load on first use, so this module imports them only
// lazily: a daemon that only runs containers never holds them. The store lends its internals
// (StoreOps, store-ops.ts).
import { promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { internal, invalidArgument } from '../common/errors.js';
import type { ImagePlan } from './archive-load.js';
import type { SaveEntry } from './archive-save.js';
import type { LoadSession } from './load.js';
import { blobsOf, type NewImage } from './records.js';
import type { StoreOps } from './store-ops.js';
import type { LoadOptions, LoadProgress } from './types.js';

/** See LocalImageStore.load. */
export async function loadImages(s: StoreOps, input: Readable, onProgress?: (p: LoadProgress) => void, onRename?: (name: string, oldId: string) => void, opts: LoadOptions = {}): Promise<string[]> {
  const dir = await s.content.tempDir('load');
  try {
    // The client's archive is read to its end before the lock is taken: a client is free to
    // send slowly or never (`tsula save | tsula load` is fed by this very daemon's save),
    // and no other load, tag, rmi or pull may wait on it meanwhile.
    const [{ extractArchive }, { planImages }] = await Promise.all([import('./archive-extract.js'), import('./archive-load.js')]);
    const archive = await extractArchive(input, dir);
    const { select } = opts;
    const plans = (await planImages(archive)).filter((p) => !select || select({
      os: p.image.os ?? '', architecture: p.image.architecture ?? '',
      ...(typeof p.image.variant === 'string' && p.image.variant ? { variant: p.image.variant } : {}),
    }));
    return await s.exclusive(() => commitLoad(s, plans, onProgress, onRename));
  } finally {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Unpack and record planned images (under the lock; nothing here waits on a client). */
async function commitLoad(s: StoreOps, plans: ImagePlan[], onProgress?: (p: LoadProgress) => void, onRename?: (name: string, oldId: string) => void): Promise<string[]> {
  const session: LoadSession = { applied: [], pending: new Map(), fresh: [] };
  let recorded = false;
  try {
    const loaded: Array<{ image: NewImage; names: string[] }> = [];
    const ctx = { driver: s.driver, content: s.content, knownLayer: (by: { blob?: string; chainId?: string }) => s.catalog.knownLayer(by) };
    const { unpackImage } = await import('./load.js');
    for (const plan of plans) loaded.push({ image: await unpackImage(ctx, plan, session, onProgress), names: plan.names });
    s.faults.hit('load:after-layers');
    s.markDirty();
    for (const [digest, file] of session.pending) await s.content.commit(file, digest);

    for (const { image, names } of loaded) {
      for (const n of names) {
        const prev = s.catalog.repos.get(n);
        if (prev && prev !== image.id) onRename?.(n, prev);
      }
    }
    const replaced = await s.catalog.record(loaded);
    recorded = true;
    await s.catalog.writeRepos();
    await s.collectBlobs(replaced);
    return loaded.flatMap(({ image, names }) => (names.length ? names : [image.id]));
  } catch (e) {
    if (!recorded) {
      // Nothing of a failed load stays: drop the layers it created, newest first.
      // (Not those a pull in progress counts on.)
      for (const chainId of session.applied.reverse()) {
        if (!s.layerPins.has(chainId)) await s.driver.removeLayer(chainId).catch(() => undefined);
      }
    }
    throw e;
  }
}

/** See LocalImageStore.save. */
export async function saveImages(s: StoreOps, refs: string[], out: Writable): Promise<void> {
  if (refs.length === 0) throw invalidArgument('no images to save');
  // Resolve everything first (a bad ref must fail before the first byte is written) and pin
  // the blobs the archive will read, then stream WITHOUT the lock: the client may read
  // slowly or not at all, and `tsula save | tsula load` feeds a load on this same daemon.
  // An rmi meanwhile deletes the record but leaves the pinned blobs to this save.
  const { entries, blobs, release } = await s.exclusive(async () => {
    const byId = new Map<string, SaveEntry>();
    for (const ref of refs) {
      for (const { image, name } of s.catalog.saveTargets(ref)) {
        const entry = byId.get(image.id) ?? { image: structuredClone(image), tags: [] };
        if (name && !name.includes('@') && !entry.tags.includes(name)) entry.tags.push(name);
        byId.set(image.id, entry);
      }
    }
    // dockerd's tarexport has no export for an image without layers (FROM scratch and only
    // metadata); it says so before the first byte, as here.
    if ([...byId.values()].some((e) => e.image.layers.length === 0)) throw internal('empty export - not implemented');
    const blobs = [...byId.values()].flatMap((e) => blobsOf(e.image));
    return { entries: [...byId.values()], blobs, release: s.blobPins.pin(blobs) };
  });
  try {
    const { writeDockerArchive } = await import('./archive-save.js');
    await writeDockerArchive(entries, s.content, out);
  } finally {
    release();
    // Blobs an rmi left to this save belong to nobody now.
    await s.exclusive(() => s.collectBlobs(blobs));
  }
}
