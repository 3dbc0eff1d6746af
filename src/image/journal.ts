// Intent log of pulls in progress: before a pull unpacks (or waits for) a layer, the layer's
// chain id is written to root/pulls/<random>.json (atomically, fsync'd); the file goes away
// when the image record is written or the pull is rolled back. A daemon killed in between
// leaves the file, and the next start removes the listed layers that no image record uses.
import { promises as fs } from 'node:fs';
import { randomBytes } from '../common/crypto.js';
import * as path from 'node:path';
import { mkdirp, writeJsonAtomic } from '../common/fsutil.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export class JournalEntry {
  private readonly chainIds: string[] = [];
  private write: Promise<void> = Promise.resolve();
  private ended = false;

  constructor(readonly file: string) {}

  /** Record a layer before it is created; resolves once that is on disk. */
  add(chainId: string): Promise<void> {
    if (this.ended || this.chainIds.includes(chainId)) return this.write;
    this.chainIds.push(chainId);
    const snapshot = [...this.chainIds];
    this.write = this.write.then(() => (this.ended ? undefined : writeJsonAtomic(this.file, { chainIds: snapshot })));
    return this.write;
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.write.catch(() => undefined);
    await fs.rm(this.file, { force: true });
  }
}

export class PullJournal {
  constructor(readonly dir: string) {}

  async begin(): Promise<JournalEntry> {
    await mkdirp(this.dir);
    return new JournalEntry(path.join(this.dir, `${randomBytes(8).toString('hex')}.json`));
  }

  /** Chain ids named by journals a crash left behind (start-up only), in the order written. */
  async leftovers(): Promise<{ files: string[]; chainIds: string[] }> {
    const files: string[] = [];
    const chainIds: string[] = [];
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return { files, chainIds };
    }
    for (const n of names) {
      const file = path.join(this.dir, n);
      files.push(file);
      if (!n.endsWith('.json') || n.startsWith('.')) continue;
      try {
        const v = JSON.parse(await fs.readFile(file, 'utf8')) as { chainIds?: unknown };
        if (Array.isArray(v.chainIds)) for (const c of v.chainIds) if (typeof c === 'string' && DIGEST.test(c)) chainIds.push(c);
      } catch { /* a torn temp file: nothing to learn from it */ }
    }
    return { files, chainIds };
  }
}
