// runtime.v1.ImageService on the engine's image store. Names are shown fully qualified
// (docker.io/library/busybox:latest), as containerd's CRI shows them and as kubelet writes
// them; the store keeps docker's familiar form. A missing image is no error where CRI says
// so: ImageStatus answers without an image, RemoveImage succeeds.
import type { ImageRecord, ImageStore } from '../image/types.js';
import { normalizeAuth, type AuthConfig } from '../image/registry/auth.js';
import { parseReference } from '../image/reference.js';
import { isKind } from '../common/errors.js';
import { promises as fs } from 'node:fs';
import { DiskUsageCache, storeUsage } from '../engine/stats/index.js';
import type { ImageServiceImpl } from './server.js';

export interface CriImagesDeps {
  images: ImageStore & {
    pull(ref: string, opts?: { auth?: AuthConfig }): Promise<{ id: string }>;
    usage(): Promise<{ layersSize: number; blobsSize: number; layers: number; blobs: number }>;
  };
  /** Where the image store keeps its blobs and records. */
  imageRoot: string;
  /** The snapshot store: images' unpacked layers and containers' writable layers (ImageFsInfo's mountpoint). */
  containerRoot: string;
  /** Which image ids containers use (a used image is untagged, not deleted, by RemoveImage). */
  inUse: (id: string) => boolean | string;
  /** The pod sandbox image, never garbage-collected by kubelet (pinned). */
  pinned?: () => string | undefined;
}

/** docker.io/library/busybox:latest for busybox:latest; other names as they are. */
export function qualified(name: string): string {
  try {
    const p = parseReference(name);
    return p.digest ? `${p.fullName}@${p.digest}` : `${p.fullName}:${p.tag ?? 'latest'}`;
  } catch {
    return name;
  }
}

/** A numeric image user is a uid; anything else a name (as containerd's CRI splits it). */
function imageUser(user: string | undefined): { uid?: { value: bigint }; username: string } {
  const u = (user ?? '').split(':')[0]!;
  if (/^\d+$/.test(u)) return { uid: { value: BigInt(u) }, username: '' };
  return { username: u };
}

function toCri(img: ImageRecord, pinnedRef: string | undefined) {
  return {
    id: img.id,
    repoTags: img.repoTags.map(qualified),
    repoDigests: img.repoDigests.map(qualified),
    size: BigInt(Math.max(0, Math.round(img.size))),
    ...imageUser(img.config.User),
    spec: { image: img.id, annotations: {} },
    pinned: !!pinnedRef && (img.repoTags.some((t) => qualified(t) === qualified(pinnedRef)) || img.id === pinnedRef),
  };
}

async function find(images: CriImagesDeps['images'], ref: string): Promise<ImageRecord | null> {
  try {
    return await images.get(ref);
  } catch (e) {
    if (isKind(e, 'NotFound')) return null;
    throw e;
  }
}

/** kubelet asks every few seconds; a walk of a big graph takes longer than that: cached. */
const USAGE_TTL_MS = 10_000;

export function criImageService(d: CriImagesDeps): ImageServiceImpl {
  const usage = new DiskUsageCache(USAGE_TTL_MS);
  return {
    listImages: async (req) => {
      const want = req.filter?.image?.image;
      const all = await d.images.list();
      const pick = want ? [await find(d.images, want)].filter((x): x is ImageRecord => !!x) : all;
      return { images: pick.map((i) => toCri(i, d.pinned?.())) };
    },
    imageStatus: async (req) => {
      const img = await find(d.images, req.image?.image ?? '');
      if (!img) return {};
      const info: Record<string, string> = {};
      if (req.verbose) {
        info.info = JSON.stringify({ id: img.id, chainID: img.chainIds.at(-1) ?? '', imageSpec: {
          created: img.created, architecture: img.architecture, os: img.os, config: img.config, rootfs: { type: 'layers', diff_ids: img.rootfs.diffIds },
        } });
      }
      return { image: toCri(img, d.pinned?.()), info };
    },
    pullImage: async (req, signal) => {
      // containerd's ParseAuth: username/password, else the identity token, else `auth`
      // (base64 user:password), and only for the registry server_address names
      const a = req.auth;
      const given = a ? normalizeAuth({
        username: a.username, password: a.password, auth: a.auth, serveraddress: a.serverAddress, identitytoken: a.identityToken, registrytoken: a.registryToken,
      }) : undefined;
      const auth: AuthConfig | undefined = given && (given.username !== undefined || given.identitytoken || given.registrytoken)
        ? { ...given, onlyForServer: true } : undefined;
      // kubelet's deadline or a cancelled call stops the pull (critest's 1 ms timeout: no image after)
      const r = await d.images.pull(req.image?.image ?? '', { auth, signal });
      return { imageRef: r.id };
    },
    removeImage: async (req) => {
      const img = await find(d.images, req.image?.image ?? '');
      if (!img) return {};
      // every name and digest of the image goes (kubelet removes by id); an image a container
      // or a committed child image needs stays, nameless, until they are gone
      await d.images.remove(img.id, { force: true, inUse: d.inUse, dropNamesIfKept: true }).catch((e: unknown) => {
        if (!isKind(e, 'NotFound') && !isKind(e, 'FailedPrecondition')) throw e;
      });
      return {};
    },
    // One image filesystem, the snapshot store's, as containerd's CRI reports its snapshotter:
    // kubelet takes a container filesystem of another mountpoint for a split disk (its
    // IsContainerFsSeparateFromImageFs compares the names), which 1.29/1.30's eviction manager
    // refuses to work with. The blobs count too where they share its filesystem.
    imageFsInfo: async () => {
      const [u, store, blobs] = await Promise.all([storeUsage(usage, d.containerRoot), fs.stat(d.containerRoot).catch(() => null), fs.stat(d.imageRoot).catch(() => null)]);
      const b = store && blobs && store.dev === blobs.dev ? await usage.get(d.imageRoot) : null;
      return {
        imageFilesystems: [{
          timestamp: u.timestamp, fsId: { mountpoint: d.containerRoot },
          usedBytes: { value: u.bytes + (b?.bytes ?? 0n) }, inodesUsed: { value: u.inodes + (b?.inodes ?? 0n) },
        }],
        containerFilesystems: [],
      };
    },
  };
}
