// The image store's records and names, in memory and on disk:
//   images/<config-hex>.json  one StoredImage per image
//   repositories.json         { "name:tag": "sha256:<id>" }, the authority on names
// It resolves references and keeps records and names in step; it never touches blobs or
// layers and takes no lock: the store calls it from inside its mutation queue.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument, notFound } from '../common/errors.js';
import { exists, fsyncDir, isAtomicWriteTemp, mkdirp, writeJsonAtomic } from '../common/fsutil.js';
import { blobsOf, hexOf, isStoredImage, type NewImage, type StoredImage, type StoredLayer } from './records.js';
import { familiarString, parseReference, splitReference, type ParsedReference } from './reference.js';
import { compareStrings } from '../common/compare.js';

const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{1,63})$/;

export class ImageCatalog {
  images = new Map<string, StoredImage>();
  repos = new Map<string, string>(); // familiar name:tag -> image id
  private readonly imagesDir: string;
  private readonly reposFile: string;

  constructor(root: string) {
    this.imagesDir = path.join(root, 'images');
    this.reposFile = path.join(root, 'repositories.json');
  }

  /** Read records and names from disk; returns how many records could not be read. */
  async read(): Promise<number> {
    await mkdirp(this.imagesDir);
    // Built aside and swapped in at the end: a get() during a reload sees old or new, not half.
    const images = new Map<string, StoredImage>();
    let unreadable = 0;
    for (const f of await fs.readdir(this.imagesDir)) {
      const file = path.join(this.imagesDir, f);
      // Temp files of an interrupted atomic write are the only other thing that lives here.
      if (isAtomicWriteTemp(f)) { await fs.rm(file, { force: true }); continue; }
      const m = /^([0-9a-f]{64})\.json$/.exec(f);
      if (!m) continue;
      try {
        const rec: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
        if (isStoredImage(rec) && rec.id === `sha256:${m[1]}`) images.set(rec.id, rec); else unreadable++;
      } catch {
        unreadable++; // its image is invisible, but its file stays for inspection
      }
    }
    const repos = new Map<string, string>();
    if (await exists(this.reposFile)) {
      try {
        const raw = JSON.parse(await fs.readFile(this.reposFile, 'utf8')) as Record<string, unknown>;
        for (const [name, id] of Object.entries(raw)) if (typeof id === 'string') repos.set(name, id);
      } catch {
        await fs.rename(this.reposFile, `${this.reposFile}.corrupt-${Date.now()}`);
      }
    }
    // repositories.json is the authority on names; records only mirror it.
    for (const img of images.values()) img.repoTags = [];
    for (const [name, id] of [...repos]) {
      const img = images.get(id);
      if (img) img.repoTags.push(name); else repos.delete(name);
    }
    for (const img of images.values()) img.repoTags.sort();
    this.images = images;
    this.repos = repos;
    return unreadable;
  }

  /** name: the name:tag the ref is; digest: the name@digest it is, among the image's RepoDigests. */
  resolve(ref: string): { image: StoredImage; name?: string; digest?: string } {
    if (typeof ref !== 'string' || ref === '') throw invalidArgument('empty image reference');
    const full = /^(?:sha256:)?([0-9a-f]{64})$/.exec(ref);
    if (full) {
      const image = this.images.get(`sha256:${full[1]}`);
      // dockerd names what it looked for: the digest, or name:tag with its default tag
      if (!image) throw notFound(`No such image: sha256:${full[1]}`);
      return { image };
    }
    let parsed: ParsedReference | undefined;
    try {
      parsed = parseReference(ref);
    } catch (e) {
      // an id prefix is looked up below; anything else that is no reference is the
      // client's error (docker's 400 "invalid reference format"), never a 404
      if (!ID_PREFIX.test(ref)) throw e;
    }
    if (parsed?.digest) {
      // name@digest: the image with that repo digest (a reference rmi removes, as a tag), or
      // one loaded with that manifest (then like an id)
      const key = familiarString(parsed);
      for (const image of this.images.values()) {
        if (image.repoDigests.includes(key)) return { image, digest: key };
        if (image.manifest?.digest === parsed.digest) return { image };
      }
    } else if (parsed) {
      const key = familiarString(parsed);
      const id = this.repos.get(key);
      const image = id ? this.images.get(id) : undefined;
      if (image) return { image, name: key };
    }
    const prefix = ID_PREFIX.exec(ref);
    if (prefix) {
      const hits = [...this.images.values()].filter((i) => i.id.startsWith(`sha256:${prefix[1]}`));
      if (hits.length === 1) return { image: hits[0]! };
      if (hits.length > 1) throw invalidArgument(`ambiguous image id prefix "${ref}": it matches ${hits.length} images`);
    }
    throw notFound(`No such image: ${parsed ? familiarString(parsed) : ref}`);
  }

  /** Whether a commit was made from the image (dockerd's child images). */
  hasChildren(id: string): boolean {
    for (const i of this.images.values()) if (i.parent === id) return true;
    return false;
  }

  /**
   * What dockerd's save takes a name for: a bare repository name is every tag of it (else an
   * id prefix); a name:tag that is not there is its "reference does not exist".
   */
  saveTargets(ref: string): Array<{ image: StoredImage; name?: string }> {
    let parsed: ParsedReference | undefined;
    try { parsed = /^sha256:/.test(ref) ? undefined : parseReference(ref); } catch { parsed = undefined; }
    if (parsed && !parsed.digest) {
      if (splitReference(ref).tag === undefined) {
        const repo = parsed.name;
        const tagged = [...this.repos].filter(([n]) => splitReference(n).name === repo);
        if (tagged.length) return tagged.map(([n, id]) => ({ image: this.images.get(id)!, name: n }));
      } else if (!this.repos.has(familiarString(parsed))) {
        throw notFound('reference does not exist');
      }
    }
    return [this.resolve(ref)];
  }

  /** A layer of a stored image, looked up by its blob digest and/or its chain id. */
  knownLayer(by: { blob?: string; chainId?: string }): StoredLayer | undefined {
    for (const img of this.images.values()) {
      for (const l of img.layers) {
        if ((by.blob === undefined || l.blob === by.blob) && (by.chainId === undefined || l.chainId === by.chainId)) return l;
      }
    }
    return undefined;
  }

  /** Chain ids some record needs. */
  chainIdsInUse(): Set<string> {
    const used = new Set<string>();
    for (const img of this.images.values()) for (const c of img.chainIds) used.add(c);
    return used;
  }

  /** Blobs some record needs. */
  blobsInUse(): Set<string> {
    const used = new Set<string>();
    for (const img of this.images.values()) for (const b of blobsOf(img)) used.add(b);
    return used;
  }

  /** Point `name` at `id` in memory, taking it from the image that had it. */
  setName(name: string, id: string, changed: Set<string>): void {
    const prev = this.repos.get(name);
    if (prev === id) return;
    if (prev) {
      const old = this.images.get(prev);
      if (old) { old.repoTags = old.repoTags.filter((t) => t !== name); changed.add(prev); }
    }
    this.repos.set(name, id);
    const img = this.images.get(id)!;
    img.repoTags = [...img.repoTags, name].sort();
    changed.add(id);
  }

  /**
   * Add or replace image records (keeping the names, repo digests and manifest a replaced
   * record had), point `names` at them and write the records, not yet repositories.json:
   * the caller writes that once it counts the records as done. Returns the blobs the
   * replaced records used (for garbage collection).
   */
  async record(entries: Array<{ image: NewImage; names: string[]; repoDigest?: string }>): Promise<string[]> {
    const replaced: string[] = [];
    const changed = new Set<string>();
    for (const { image, repoDigest } of entries) {
      const old = this.images.get(image.id);
      if (old) replaced.push(...blobsOf(old));
      // a name@digest names one image: one that has it keeps it (dockerd's addDigestReference
      // logs "Image ID for digest ... changed ..., cannot update"): the other platform of an
      // index pulled by --platform gets none
      const owner = repoDigest ? this.digestOwner(repoDigest) : undefined;
      const add = repoDigest && (!owner || owner === image.id) ? [repoDigest] : [];
      const repoDigests = [...new Set([...(old?.repoDigests ?? []), ...add])].sort();
      // an image there already keeps what it had (dockerd's store.Create returns it as it is)
      const parent = image.parent ?? old?.parent;
      this.images.set(image.id, {
        ...image, ...(parent ? { parent } : {}), manifest: image.manifest ?? old?.manifest, lastTagTime: image.lastTagTime ?? old?.lastTagTime,
        repoTags: old?.repoTags ?? [], repoDigests,
      });
      changed.add(image.id);
    }
    for (const { image, names } of entries) for (const n of names) this.setName(n, image.id, changed);
    for (const id of changed) await this.writeRecord(id);
    return replaced;
  }

  /** The image a name@digest reference is on, if any. */
  private digestOwner(key: string): string | undefined {
    for (const img of this.images.values()) if (img.repoDigests.includes(key)) return img.id;
    return undefined;
  }

  async untag(names: string[]): Promise<void> {
    const changed = new Set<string>();
    for (const n of names) {
      const id = this.repos.get(n);
      if (!id) continue;
      this.repos.delete(n);
      const img = this.images.get(id);
      if (img) { img.repoTags = img.repoTags.filter((t) => t !== n); changed.add(id); }
    }
    // Names first: a crash in between leaves a nameless image, never a name without an image.
    await this.writeRepos();
    for (const id of changed) await this.writeRecord(id);
  }

  /** Forget an image (its names must be gone already): on disk first, then in memory. */
  async deleteRecord(id: string): Promise<void> {
    await fs.rm(this.recordPath(id), { force: true });
    await fsyncDir(this.imagesDir);
    this.images.delete(id);
  }

  /** Drop repo digests (name@digest references) from an image's record. */
  async dropDigests(id: string, keys: string[]): Promise<void> {
    const img = this.images.get(id);
    if (!img || !keys.length) return;
    img.repoDigests = img.repoDigests.filter((d) => !keys.includes(d));
    await this.writeRecord(id);
  }

  async writeRecord(id: string): Promise<void> {
    const img = this.images.get(id);
    if (img) await writeJsonAtomic(this.recordPath(id), img);
  }

  async writeRepos(): Promise<void> {
    const obj: Record<string, string> = {};
    for (const [k, v] of [...this.repos].sort(([a], [b]) => compareStrings(a, b))) obj[k] = v;
    await writeJsonAtomic(this.reposFile, obj);
  }

  private recordPath(id: string): string {
    return path.join(this.imagesDir, `${hexOf(id)}.json`);
  }
}
