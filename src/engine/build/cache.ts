// The build cache, as dockerd's legacy builder keeps it: the images themselves. A step's
// result is an image whose parent is the step's base and whose container_config is the
// step's run config with the "#(nop)" or RUN command in Cmd (for COPY/ADD that command holds
// the sources' content checksum). A later build finds it among the children of the same
// base by comparing those configs the way dockerd's cache does (image/cache/compare.go:
// Cmd, Env, Entrypoint in order; Labels, ExposedPorts, Volumes as sets; User, Tty,
// AttachStdout/Stderr; never with OpenStdin). The newest match wins.
import { createHash } from '../../common/crypto.js';
import type { ImageStore } from '../../image/types.js';
import type { RunConfig } from './runconfig.js';

type Comparable = Partial<Pick<RunConfig, 'Cmd' | 'Env' | 'Entrypoint' | 'Labels' | 'ExposedPorts' | 'Volumes' | 'User' | 'Tty' | 'AttachStdout' | 'AttachStderr' | 'OpenStdin'>>;

/**
 * What a step is cached by, besides its parent: a digest over the compared fields (maps as
 * sorted keys). null for a config the cache never matches (OpenStdin).
 */
export function cacheKey(parent: string, cfg: Comparable): string | null {
  if (cfg.OpenStdin) return null;
  const sorted = (m: Record<string, unknown> | null | undefined) => Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const key = JSON.stringify([
    parent, cfg.Cmd ?? [], cfg.Env ?? [], cfg.Entrypoint ?? [], sorted(cfg.Labels),
    sorted(cfg.ExposedPorts).map(([k]) => k), sorted(cfg.Volumes).map(([k]) => k),
    cfg.User ?? '', !!cfg.Tty, !!cfg.AttachStdout, !!cfg.AttachStderr,
  ]);
  return createHash('sha256').update(key).digest('hex');
}

export class BuildCache {
  private sources: Promise<Set<string>> | null = null;

  /**
   * `cacheFrom`: with names, dockerd's cache-from (image/cache's ImageCache): a step is taken
   * from the cache only when its image is one of theirs or an ancestor of one; a name that is
   * not here adds nothing, so names of none leave no cache at all.
   */
  constructor(private readonly images: ImageStore, private readonly cacheFrom: string[] = []) {}

  /** The images the cache-from names reach (themselves and their parents), once. */
  private allowed(): Promise<Set<string>> {
    this.sources ??= (async () => {
      const all = new Map((await this.images.list()).map((i) => [i.id, i]));
      const out = new Set<string>();
      for (const name of this.cacheFrom) {
        let id: string | undefined = (await this.images.get(name).catch(() => null))?.id;
        while (id && !out.has(id)) {
          out.add(id);
          id = all.get(id)?.parent || undefined;
        }
      }
      return out;
    })();
    return this.sources;
  }

  /** The newest image made from `parent` ('' for scratch) by a step with this config, or null. */
  async probe(parent: string, cfg: RunConfig): Promise<string | null> {
    const want = cacheKey(parent, cfg);
    if (!want) return null;
    const allowed = this.cacheFrom.length ? await this.allowed() : null;
    let best: { id: string; created: number } | null = null;
    for (const img of await this.images.list()) {
      if ((img.parent ?? '') !== parent) continue;
      if (allowed && !allowed.has(img.id)) continue;
      const blob = await this.images.configBlob(img.id).catch(() => null);
      const cc = blob?.container_config as Comparable | undefined;
      if (!cc || cacheKey(parent, cc) !== want) continue;
      const created = Date.parse(img.created) || 0;
      if (!best || created > best.created) best = { id: img.id, created };
    }
    return best?.id ?? null;
  }
}
