// What the image store lends the modules that do part of its work (store-archive.ts,
// store-registry.ts): its parts, its lock and its mutations. Types only: importing this loads
// nothing.
import type { Faults } from '../common/faults.js';
import type { SnapshotDriver } from '../storage/types.js';
import type { ImageCatalog } from './catalog.js';
import type { ContentStore } from './content.js';
import type { PullJournal } from './journal.js';
import type { LayerSources } from './layer-sources.js';
import type { Pins } from './pins.js';

export interface StoreOps {
  catalog: ImageCatalog;
  content: ContentStore;
  driver: SnapshotDriver;
  journal: PullJournal;
  /** Where layers live on registries (pulls and pushes record it, pushes mount from it). */
  sources: LayerSources;
  /** Blobs that pulls, pushes and saves in progress read; layers (chain ids) pulls need. */
  blobPins: Pins;
  layerPins: Pins;
  faults: Faults;
  /** Run a mutation under the store's lock, one at a time. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** Say a mutation touched memory or disk (if it then fails, disk is read again). */
  markDirty(): void;
  /** Delete those of `candidates` that no image references and nothing pins. */
  collectBlobs(candidates: Iterable<string>): Promise<void>;
  /** Chain ids some image records or some pull in progress need. */
  usedChainIds(): Set<string>;
}
