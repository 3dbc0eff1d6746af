// rmi (dockerd's ImageDelete) and CRI's RemoveImage (containerd's): which names go, whether
// the image goes with them, and the conflicts in dockerd's words. The store runs these under
// its lock and lends them its mutations (RemovalOps).
import { failedPrecondition } from '../common/errors.js';
import { shortId } from '../common/ids.js';
import type { ImageCatalog } from './catalog.js';
import { hexOf, type StoredImage } from './records.js';
import { splitReference } from './reference.js';
import type { RemoveOptions } from './types.js';

export type RemoveResult = Array<{ Untagged?: string; Deleted?: string }>;

export interface RemovalOps {
  catalog: ImageCatalog;
  /** Drop names, or an image's digest references (the store marks itself changed). */
  untag(names: string[]): Promise<void>;
  dropDigests(id: string, digests: string[]): Promise<void>;
  /** Delete a nameless image's record, then whatever only it used. */
  deleteImage(image: StoredImage): Promise<RemoveResult>;
}

export async function removeImage(s: RemovalOps, ref: string, opts: RemoveOptions): Promise<RemoveResult> {
  const { image, name, digest } = s.catalog.resolve(ref);
  const id = image.id;
  const used = opts.inUse(id);
  const user = typeof used === 'string' ? `container ${shortId(used)}` : 'a container';
  const out: RemoveResult = [];
  const names = [...image.repoTags];
  const digests = [...image.repoDigests];
  const conflict = (force: 'must be forced' | 'cannot be forced', why: string) =>
    failedPrecondition(`conflict: unable to delete ${shortId(hexOf(id))} (${force}) - ${why}`);
  if (name || digest) {
    // By reference (name:tag or name@digest), as dockerd's ImageDelete: that reference goes;
    // the image only with its last one. Its sole reference needs force while a container uses it.
    if (used && !opts.force && isSingleReference(names, digests)) {
      throw failedPrecondition(`conflict: unable to remove repository reference "${ref}" (must force) - ${user} is using its referenced image ${shortId(hexOf(id))}`);
    }
    if (name) {
      out.push(...(await untagName(s, image, name)));
    } else {
      await s.dropDigests(id, [digest!]);
      out.push({ Untagged: digest! });
    }
    // A used image keeps living, nameless, as docker leaves it for a running container.
    if (image.repoTags.length > 0 || image.repoDigests.length > 0 || used || s.catalog.hasChildren(id)) return out;
  } else {
    // CRI: a container's image stays, nameless; one only committed children name as their
    // parent goes (their own records hold every layer they need)
    if (opts.dropNamesIfKept && used) {
      await s.untag(names);
      await s.dropDigests(id, digests);
      return [...names.map((n) => ({ Untagged: n })), ...digests.map((d) => ({ Untagged: d }))];
    }
    // dockerd's checks by id, in its order: child images and a running container (hard:
    // force does not help), then other names, then a stopped container
    if (s.catalog.hasChildren(id) && !opts.dropNamesIfKept) throw conflict('cannot be forced', 'image has dependent child images');
    const running = opts.running?.(id);
    if (running) throw conflict('cannot be forced', `image is being used by running container ${shortId(running)}`);
    const stopped = opts.running ? `stopped ${user}` : user;
    if (!isSingleReference(names, digests) && names.length + digests.length > 0 && !opts.force) {
      throw conflict('must be forced', 'image is referenced in multiple repositories');
    }
    if (used) {
      if (!opts.force) throw conflict('must be forced', `image is being used by ${stopped}`);
      // dockerd would delete it under its stopped container; tsula's containers run on
      // their image's layers, so the image stays (nameless) until they are gone
      if (names.length === 0) throw conflict('cannot be forced', `image is being used by ${stopped}`);
      await s.untag(names);
      return names.map((n) => ({ Untagged: n }));
    }
    await s.untag(names);
    await s.dropDigests(id, digests);
    out.push(...names.map((n) => ({ Untagged: n })), ...digests.map((d) => ({ Untagged: d })));
  }
  out.push(...(await s.deleteImage(image)));
  if (!opts.noPrune) out.push(...(await pruneParents(s, image, opts.inUse)));
  return out;
}

/** dockerd's prune of the parents a commit left nameless, unused and childless. */
export async function pruneParents(s: RemovalOps, image: StoredImage, inUse: (id: string) => boolean | string): Promise<RemoveResult> {
  const out: RemoveResult = [];
  let parent = image.parent ? s.catalog.images.get(image.parent) : undefined;
  while (parent && parent.repoTags.length + parent.repoDigests.length === 0 && !inUse(parent.id) && !s.catalog.hasChildren(parent.id)) {
    const next: StoredImage | undefined = parent.parent ? s.catalog.images.get(parent.parent) : undefined;
    out.push(...(await s.deleteImage(parent)));
    parent = next;
  }
  return out;
}

/** The repository of a name:tag or name@digest (localhost:5000/a:1 → localhost:5000/a). */
/**
 * Untag one name of an image, as dockerd's ImageDelete does: with no tag of that repository
 * left, its digest references go too.
 */
export async function untagName(s: RemovalOps, image: StoredImage, name: string): Promise<RemoveResult> {
  await s.untag([name]);
  const out: RemoveResult = [{ Untagged: name }];
  const repo = repoOf(name);
  if (!image.repoTags.some((t) => repoOf(t) === repo)) {
    const gone = image.repoDigests.filter((d) => repoOf(d) === repo);
    if (gone.length) await s.dropDigests(image.id, gone);
    out.push(...gone.map((d) => ({ Untagged: d })));
  }
  return out;
}

function repoOf(ref: string): string {
  return splitReference(ref).name;
}

/**
 * dockerd's isSingleReference: at most one tag, and every digest reference in that tag's
 * repository (or, with no tag, all in one). False with no references at all.
 */
function isSingleReference(tags: string[], digests: string[]): boolean {
  if (tags.length + digests.length <= 1) return tags.length + digests.length === 1;
  if (tags.length > 1) return false;
  const repos = new Set(digests.map(repoOf));
  const single = tags[0] !== undefined ? repoOf(tags[0]) : repoOf(digests[0]!);
  return repos.size === 1 && repos.has(single);
}
