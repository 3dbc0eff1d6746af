// What crashes leave in the image store, removed at start-up once every record is read:
// layers of pulls killed mid-way (the pull journal names them), and layers no record names
// (a load, commit or import killed between unpacking and recording, an rmi or prune killed
// between deleting the record and the layers). No other owner of a layer exists then: no
// pull runs yet, and a container's snapshot is over its image's layers, which the driver
// refuses to remove.
import { promises as fs } from 'node:fs';
import type { SnapshotDriver } from '../storage/types.js';
import type { PullJournal } from './journal.js';

/** Remove the layers that pulls killed mid-way created and no record uses, then the journal's files. */
export async function undoCrashedPulls(journal: PullJournal, used: Set<string>, driver: SnapshotDriver): Promise<void> {
  const { files, chainIds } = await journal.leftovers();
  let orphans = [...new Set(chainIds)].filter((c) => !used.has(c)).reverse();
  // Children before parents; a driver refuses to remove a layer that still has children.
  for (let pass = 0; pass < 4 && orphans.length; pass++) {
    const left: string[] = [];
    for (const c of orphans) await driver.removeLayer(c).catch(() => left.push(c));
    orphans = left;
  }
  for (const f of files) await fs.rm(f, { force: true });
}

/** Remove every layer no record names (each may be hundreds of MB, and nothing else would find it). */
export async function removeUnusedLayers(used: Set<string>, driver: SnapshotDriver): Promise<void> {
  const all = await driver.listLayers();
  const parent = new Map(all.map((l) => [l.chainId, l.parent]));
  const depth = (c: string): number => {
    let n = 0;
    for (let p = parent.get(c); p && n < all.length; p = parent.get(p)) n++;
    return n;
  };
  // children before parents: a driver refuses to remove a layer that still has children
  const orphans = all.filter((l) => !used.has(l.chainId)).map((l) => ({ c: l.chainId, d: depth(l.chainId) })).sort((a, b) => b.d - a.d);
  for (const { c } of orphans) await driver.removeLayer(c).catch(() => undefined);
}
