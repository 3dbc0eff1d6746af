// The ADD results cache, in libcni's own format (`<dir>/results/<net>-<cid>-<ifname>`, kind
// "cniCacheV1", the config list base64-encoded as Go encodes []byte). DEL and CHECK hand the
// cached result to the plugins as prevResult, and the cached config lets a DEL after a
// daemon crash run the very plugins that did the ADD, even if the conf dir changed since.
// Same format as libcni: `cnitool` and containerd read these files too.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isAtomicWriteTemp, writeFileAtomic, type Durability } from '../../common/fsutil.js';
import { internal } from '../../common/errors.js';

const KIND = 'cniCacheV1';

export interface CachedAttachment {
  containerId: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  /** The network config list (JSON text) the ADD ran. */
  config: string;
  /** The ADD's final result, raw. */
  result?: Record<string, unknown>;
}

interface CacheFile {
  kind: string;
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  result?: Record<string, unknown>;
}

export class ResultCache {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = path.join(cacheDir, 'results');
  }

  file(networkName: string, containerId: string, ifName: string): string {
    return path.join(this.dir, `${networkName}-${containerId}-${ifName}`);
  }

  async write(a: CachedAttachment, durability: Durability = 'full'): Promise<void> {
    const doc: CacheFile = {
      kind: KIND, containerId: a.containerId, config: Buffer.from(a.config).toString('base64'),
      ifName: a.ifName, networkName: a.networkName,
      ...(a.netns ? { netns: a.netns } : {}),
      ...(a.cniArgs.length ? { cniArgs: a.cniArgs } : {}),
      ...(Object.keys(a.capabilityArgs).length ? { capabilityArgs: a.capabilityArgs } : {}),
      ...(a.result ? { result: a.result } : {}),
    };
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(a.networkName, a.containerId, a.ifName), JSON.stringify(doc), 0o600, durability);
  }

  /** The cached attachment, or null when there is none (or it is unreadable: DEL goes on without). */
  async read(networkName: string, containerId: string, ifName: string): Promise<CachedAttachment | null> {
    return readAttachment(this.file(networkName, containerId, ifName));
  }

  async remove(networkName: string, containerId: string, ifName: string): Promise<void> {
    await fs.rm(this.file(networkName, containerId, ifName), { force: true });
  }

  /**
   * Delete the temp files of writes a crash cut short (isAtomicWriteTemp):
   * nothing reads them, and each kill -9 during an ADD would leave more. Run at recovery only,
   * when no write of ours is under way.
   */
  async removeTemp(): Promise<void> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const n of names) if (isAtomicWriteTemp(n)) await fs.rm(path.join(this.dir, n), { force: true });
  }

  /** Every cached attachment, optionally only a container's (libcni's GetCachedAttachments). */
  async list(containerId?: string): Promise<CachedAttachment[]> {
    let names: string[];
    try {
      names = (await fs.readdir(this.dir)).filter((n) => !n.startsWith('.')).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw internal(`read cni cache ${this.dir}: ${(e as Error).message}`, e);
    }
    const out: CachedAttachment[] = [];
    for (const n of names) {
      if (containerId && !n.includes(`-${containerId}-`)) continue;
      const a = await readAttachment(path.join(this.dir, n));
      if (a && (!containerId || a.containerId === containerId)) out.push(a);
    }
    return out;
  }
}

async function readAttachment(file: string): Promise<CachedAttachment | null> {
  let doc: CacheFile;
  try {
    doc = JSON.parse(await fs.readFile(file, 'utf8')) as CacheFile;
  } catch {
    return null;
  }
  if (doc?.kind !== KIND || !doc.containerId || !doc.ifName || !doc.networkName) return null;
  return {
    containerId: doc.containerId, ifName: doc.ifName, networkName: doc.networkName,
    ...(doc.netns ? { netns: doc.netns } : {}),
    cniArgs: Array.isArray(doc.cniArgs) ? doc.cniArgs : [],
    capabilityArgs: doc.capabilityArgs ?? {},
    config: typeof doc.config === 'string' ? Buffer.from(doc.config, 'base64').toString('utf8') : '',
    ...(doc.result && typeof doc.result === 'object' ? { result: doc.result } : {}),
  };
}
