// The image store contract, as the engine uses it.
import type { Readable, Writable } from 'node:stream';
import type { AuthConfig } from './registry/auth.js';
import type { DistributionInspect } from './registry/inspect.js';
import type { PullOptions, PullProgress, PullResult } from './registry/pull.js';

import type { CommitSpec, HistoryItem, ImportSpec } from './commit.js';

export type { AuthConfig, PullOptions, PullProgress, PullResult, CommitSpec, HistoryItem };

export interface PushOptions {
  auth?: AuthConfig;
  onProgress?: (p: PullProgress) => void;
  /** The client went away: no further blob is uploaded, and no manifest (no tag) is put. */
  signal?: AbortSignal;
}

export interface PushResult { tag: string; digest: string; size: number }

export interface PruneOptions {
  /** Every unused image, not only the dangling (untagged) ones. */
  all: boolean;
  inUse: (id: string) => boolean | string;
  /** Only images created before this time (ms since the epoch). */
  until?: number;
  /** label=value (value undefined: the label is set). */
  labels?: Record<string, string | undefined>;
  /** The docker API's label=/label!= filters over an image's labels. */
  labelsOk?: (labels: Record<string, string> | null | undefined) => boolean;
}

export interface PruneResult {
  deleted: Array<{ Untagged?: string; Deleted?: string }>;
  /** Bytes freed: unpacked layers plus stored blobs. */
  reclaimed: number;
}

export interface StoreUsage {
  images: number;
  layers: number;
  /** Bytes of unpacked layers (each counted once). */
  layersSize: number;
  blobs: number;
  /** Bytes of configs, manifests and compressed layer blobs. */
  blobsSize: number;
}

/** The parts of an OCI image config the engine reads (docker's names). */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  Healthcheck?: { Test?: string[] | null; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number; StartInterval?: number } | null;
}

export interface ImageRecord {
  id: string;             // sha256:<config digest>
  repoTags: string[];     // ["busybox:latest"]
  repoDigests: string[];
  created: string;        // RFC 3339
  size: number;           // sum of unpacked layer sizes
  architecture: string;
  os: string;
  config: ImageConfig;
  rootfs: { type: 'layers'; diffIds: string[] };
  chainIds: string[];     // bottom..top, what the snapshot driver keys layers by
  /** Unpacked size of each layer, parallel to chainIds (shared sizes, docker system df). */
  layerSizes?: number[];
  /** The image a commit was made from (dockerd's Parent; its rmi is refused while this one lives). */
  parent?: string;
  /** When `docker tag` (or commit with a name) last named it: dockerd's Metadata.LastTagTime. */
  lastTagTime?: string;
}

export interface LoadProgress {
  layer: string;          // short id of the layer
  current: number;
  total: number;
  status: 'Loading layer';
}

export interface LoadOptions {
  /** Load only the archive's images this takes (docker load --platform); the others are passed over. */
  select?: (platform: { os: string; architecture: string; variant?: string }) => boolean;
}

/** How rmi (docker) or RemoveImage (CRI) removes an image. */
export interface RemoveOptions {
  force: boolean;
  /** A container that uses the image (its id or name), or false. */
  inUse: (id: string) => boolean | string;
  /** A running container that uses the image: dockerd's hard conflict by id. */
  running?: (id: string) => string | false;
  /** docker rmi --no-prune: nameless parents a commit left stay. */
  noPrune?: boolean;
  /**
   * CRI's RemoveImage, as containerd's: every name and digest goes; the image too unless a
   * container uses it (then it stays, nameless), also when committed images name it as their
   * parent, which docker's rmi refuses.
   */
  dropNamesIfKept?: boolean;
}

export interface ImageStore {
  init(): Promise<void>;
  list(): Promise<ImageRecord[]>;
  /** By full or short id (with or without sha256:), name[:tag] (tag defaults to latest), or name@digest. */
  get(ref: string): Promise<ImageRecord>;
  /**
   * Load a docker-archive or oci-archive tar (gzip or plain). Returns the loaded names (or
   * ids); onRename hears of each name taken from another image.
   */
  load(input: Readable, onProgress?: (p: LoadProgress) => void, onRename?: (name: string, oldId: string) => void, opts?: LoadOptions): Promise<string[]>;
  /** Write a docker-archive with the given images (by ref) to out. */
  save(refs: string[], out: Writable): Promise<void>;
  /** Name `source`'s image `target`; its id (the image tagged, whatever happens to the name next). */
  tag(source: string, target: string): Promise<string>;
  /**
   * Remove a name, or the image itself when ref is an id or its last name. `inUse(id)` tells
   * whether a container uses the image (returning the container's id instead of `true` puts
   * it in the error message, as docker does); such an image is refused unless force, and even
   * with force it is only untagged, never deleted from under its container. With `running`
   * (the docker API), an id whose image a running container uses is dockerd's hard conflict,
   * force or not, and the other users are named stopped containers.
   * Returns docker's [{Untagged}|{Deleted}] list.
   */
  remove(ref: string, opts: RemoveOptions): Promise<Array<{ Untagged?: string; Deleted?: string }>>;
  /** Pull [REGISTRY/]NAME[:TAG|@DIGEST] from its registry; progress in docker's vocabulary. */
  pull(ref: string, opts?: PullOptions): Promise<PullResult>;
  pullAllTags(name: string, opts?: PullOptions): Promise<PullResult[]>;
  /** Push name:tag, or every local tag of name when tag is empty, to its registry. */
  push(name: string, tag: string, opts: PushOptions): Promise<PushResult[]>;
  /** get(ref), pulling a missing named image first (what run/create want). */
  ensureImage(ref: string, onProgress?: (p: PullProgress) => void, opts?: Omit<PullOptions, 'onProgress'>): Promise<ImageRecord>;
  /** What a registry serves under a name: the descriptor it resolves to and its platforms (GET /distribution/{name}/json). */
  inspectRemote(ref: string, auth?: AuthConfig): Promise<DistributionInspect>;
  /** Verify credentials against their registry (serveraddress); throws Unauthenticated. */
  checkLogin(auth: AuthConfig): Promise<void>;
  prune(opts: PruneOptions): Promise<PruneResult>;
  /**
   * A new image: `layer` (an uncompressed layer tar, read to its end before the store's lock
   * is taken) on top of spec.parent, named `tag` (familiar name:tag) when given. Returns its id.
   */
  commit(layer: AsyncIterable<Buffer>, spec: CommitSpec, tag?: string): Promise<string>;
  /** docker import: `layer` (an uncompressed tar) as the one layer of a new image; its id. */
  import(layer: AsyncIterable<Buffer>, spec: ImportSpec, tag?: string): Promise<string>;
  /** The image's config blob as stored (docker inspect's Comment, Author, ContainerConfig...); null if unreadable. */
  configBlob(ref: string): Promise<Record<string, unknown> | null>;
  /** `docker history` of an image, newest first. */
  history(ref: string): Promise<HistoryItem[]>;
  usage(): Promise<StoreUsage>;
}
