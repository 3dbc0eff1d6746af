// Where each layer lives on registries, as dockerd's V2MetadataService keeps it
// (moby distribution/metadata/v2_metadata_service.go): for a layer's diff id, every
// (blob digest, media type, size, registry, repository) a pull or a push has seen, oldest
// first, at most MAX_SOURCES of them. A push mounts or reuses a blob from this list instead of
// uploading it again (registry/mount-plan.ts). On disk, next to the image records:
//   layer-sources/<diff-id hex>.json
// Keyed by diff id, not by image: an rmi'd and pulled-again or rebuilt layer finds its
// sources, and no image record is rewritten after a push. Files whose layer no image has
// any more are removed at start-up (prune()).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isAtomicWriteTemp, mkdirp, writeFileAtomic } from '../common/fsutil.js';
import { hexOf, type StoredLayer } from './records.js';

/** A blob a registry holds a layer as. */
export interface LayerSource {
  digest: string;
  mediaType: string;
  size: number;
  /** The registry's domain, as references name it (docker.io, 127.0.0.1:5000). */
  registry: string;
  /** The repository path on it (library/busybox). */
  repository: string;
}

/** moby's maxMetadata: the entries kept per layer; the oldest go first. */
export const MAX_SOURCES = 50;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export const sameSource = (a: LayerSource, b: LayerSource): boolean =>
  a.digest === b.digest && a.registry === b.registry && a.repository === b.repository;

/** `list` with `s` as its newest entry (an equal older one dropped), capped at MAX_SOURCES. */
export function withSource(list: LayerSource[], s: LayerSource): LayerSource[] {
  const out = list.filter((o) => !sameSource(o, s));
  out.push(s);
  return out.length > MAX_SOURCES ? out.slice(out.length - MAX_SOURCES) : out;
}

/** The one registry blob records of older tsula kept per layer (StoredLayer.remote), as a source. */
export function legacySource(l: StoredLayer): LayerSource | undefined {
  const r = l.remote;
  const slash = r?.from.indexOf('/') ?? -1;
  if (!r || slash <= 0) return undefined;
  return { digest: r.digest, size: r.size, mediaType: r.mediaType, registry: r.from.slice(0, slash), repository: r.from.slice(slash + 1) };
}

function isSource(v: unknown): v is LayerSource {
  const s = v as Partial<LayerSource> | null;
  return !!s && typeof s === 'object' && typeof s.digest === 'string' && DIGEST.test(s.digest)
    && typeof s.mediaType === 'string' && typeof s.size === 'number' && s.size >= 0
    && typeof s.registry === 'string' && s.registry !== '' && typeof s.repository === 'string' && s.repository !== '';
}

export class LayerSources {
  readonly dir: string;
  /** Changes run one at a time: each reads, edits and writes a whole file. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.dir = path.join(root, 'layer-sources');
  }

  /** The sources of a layer, oldest first; none when nothing was recorded or the file is unreadable. */
  async get(diffId: string): Promise<LayerSource[]> {
    let raw: unknown;
    try {
      raw = JSON.parse(await fs.readFile(this.file(diffId), 'utf8'));
    } catch {
      return []; // a lost or torn file costs an upload, nothing more
    }
    return Array.isArray(raw) ? raw.filter(isSource) : [];
  }

  /** Record sources (each becomes its layer's newest). */
  add(entries: Array<{ diffId: string; source: LayerSource }>): Promise<void> {
    return this.edit(entries.map((e) => e.diffId), (diffId, list) => {
      for (const e of entries) if (e.diffId === diffId) list = withSource(list, e.source);
      return list;
    });
  }

  /** Forget a source that proved wrong (the registry lacks the blob there, or refused to mount it). */
  remove(diffId: string, s: LayerSource): Promise<void> {
    return this.edit([diffId], (_d, list) => list.filter((o) => !sameSource(o, s)));
  }

  /** Remove the files of layers no image has (`keep`: the diff ids images have). */
  async prune(keep: Set<string>): Promise<void> {
    let names: string[];
    try { names = await fs.readdir(this.dir); } catch { return; }
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.json$/.exec(n);
      if (isAtomicWriteTemp(n) || (m && !keep.has(`sha256:${m[1]}`))) await fs.rm(path.join(this.dir, n), { force: true });
    }
  }

  private edit(diffIds: string[], change: (diffId: string, list: LayerSource[]) => LayerSource[]): Promise<void> {
    const run = this.queue.then(async () => {
      await mkdirp(this.dir);
      for (const diffId of new Set(diffIds)) {
        if (!DIGEST.test(diffId)) continue;
        const before = await this.get(diffId);
        const after = change(diffId, before);
        if (after.length === 0) await fs.rm(this.file(diffId), { force: true });
        // a cache: a crash may lose the newest entries (an upload again), never tear a file
        else if (JSON.stringify(after) !== JSON.stringify(before)) await writeFileAtomic(this.file(diffId), JSON.stringify(after), 0o600, 'none');
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private file(diffId: string): string {
    return path.join(this.dir, `${hexOf(diffId)}.json`);
  }
}
