// The image store's registry side: pull, push, distribution inspect and login. Pulls download
// and unpack outside the store's lock with what they need pinned, so that no rmi or garbage
// collection takes it away meanwhile; only recording the image (or undoing a failed pull)
// takes the lock. A push pins the blobs it reads and uploads outside the lock too.
// The registry client (https, tls, dns) loads on first use, so this module imports it only
// lazily: a daemon that only runs containers never holds it. The store lends its internals
// (StoreOps, store-ops.ts).
import { internal, invalidArgument, notFound } from '../common/errors.js';
import { blobsOf, type NewImage, type StoredLayer } from './records.js';
import type { StoreOps } from './store-ops.js';
import type { PushOptions, PushResult } from './types.js';
import type { AuthConfig } from './registry/auth.js';
import type { DistributionInspect } from './registry/inspect.js';
import type { RegistryClient, RegistryOptions } from './registry/client.js';
import type { Puller, PullHost, PullOptions, PullResult } from './registry/pull.js';

/** One store's way to registries: the client and the puller are made on first use. */
export class StoreRegistry {
  private client?: RegistryClient;
  private puller?: Puller;

  constructor(private readonly s: StoreOps, private readonly opts?: RegistryOptions) {}

  async pull(ref: string, opts: PullOptions): Promise<PullResult> {
    return (await this.getPuller()).pull(ref, opts);
  }

  async pullAllTags(name: string, opts: PullOptions): Promise<PullResult[]> {
    return (await this.getPuller()).pullAllTags(name, opts);
  }

  /** See LocalImageStore.push. */
  async push(name: string, tag: string, opts: PushOptions): Promise<PushResult[]> {
    const { parseReference } = await import('./reference.js');
    const parsed = parseReference(tag ? `${name}:${tag}` : name);
    if (parsed.digest) throw invalidArgument(`cannot push a digest reference: ${name}`);
    const familiar = parsed.name;
    opts.onProgress?.({ status: `The push refers to repository [${parsed.fullName}]` });
    // dockerd's words: no name at all, then a missing tag of a known name
    const local = [...this.s.catalog.repos.keys()].filter((n) => n.startsWith(`${familiar}:`)).map((n) => n.slice(familiar.length + 1)).sort();
    if (!local.length) throw notFound(`An image does not exist locally with the tag: ${familiar}`);
    const wanted = tag || parsed.tag;
    if (wanted && !local.includes(wanted)) throw notFound(`tag does not exist: ${familiar}:${wanted}`);
    const tags = wanted ? [wanted] : local;
    const [{ Pusher }, client] = await Promise.all([import('./registry/push.js'), this.getClient()]);
    const out: PushResult[] = [];
    for (const t of tags) {
      const { image, release } = await this.s.exclusive(async () => {
        const { image } = this.s.catalog.resolve(`${familiar}:${t}`);
        return { image: structuredClone(image), release: this.s.blobPins.pin(blobsOf(image)) };
      });
      try {
        const pusher = new Pusher(client, this.s.content, { ...parsed, tag: t }, opts.auth, opts.onProgress ?? (() => {}), opts.signal, this.s.sources);
        const r = await pusher.push({ configDigest: image.id, layers: image.layers }, t);
        opts.onProgress?.({ status: `${t}: digest: ${r.digest} size: ${r.size}` });
        out.push(r);
        await this.s.exclusive(async () => {
          const cur = this.s.catalog.images.get(image.id);
          if (!cur) return;
          this.s.markDirty();
          await this.s.catalog.record([{ image: cur, names: [], repoDigest: `${familiar}@${r.digest}` }]);
        });
      } finally {
        release();
      }
    }
    return out;
  }

  async inspect(ref: string, auth?: AuthConfig): Promise<DistributionInspect> {
    const [{ distributionInspect }, client] = await Promise.all([import('./registry/inspect.js'), this.getClient()]);
    return distributionInspect(client, ref, auth);
  }

  async checkLogin(auth: AuthConfig): Promise<void> {
    const { registryHost, registryKey } = await import('./registry/credentials.js');
    await (await this.getClient()).login(registryHost(registryKey(auth.serveraddress)), auth);
  }

  /** Drop idle registry connections. */
  close(): void {
    this.client?.close();
  }

  private async getClient(): Promise<RegistryClient> {
    if (!this.client) {
      const { RegistryClient } = await import('./registry/client.js');
      this.client ??= new RegistryClient(this.opts);
    }
    return this.client;
  }

  private async getPuller(): Promise<Puller> {
    if (!this.puller) {
      const [{ Puller }, client] = await Promise.all([import('./registry/pull.js'), this.getClient()]);
      this.puller ??= new Puller(this.pullHost(), client);
    }
    return this.puller;
  }

  private pullHost(): PullHost {
    const { catalog, content, driver } = this.s;
    const layersOk = async (layers: StoredLayer[]) => {
      for (const l of layers) if (!(await driver.hasLayer(l.chainId)) || !(await content.has(l.blob))) return false;
      return true;
    };
    return {
      content,
      driver,
      journal: this.s.journal,
      completeImage: async (id) => {
        const img = catalog.images.get(id);
        return img && (await layersOk(img.layers)) ? img.layers.map((l) => ({ ...l })) : undefined;
      },
      layerWithBlob: async (chainId) => {
        for (const img of catalog.images.values()) {
          for (const l of img.layers) if (l.chainId === chainId && (await content.has(l.blob))) return { ...l };
        }
        return undefined;
      },
      pin: ({ blobs = [], chainIds = [] }) => {
        const releases = [this.s.blobPins.pin(blobs), this.s.layerPins.pin(chainIds)];
        return () => { for (const r of releases) r(); };
      },
      commitPull: (image, names, release) => this.commitPull(image, names, release),
      addSources: (entries) => this.s.sources.add(entries),
      abortPull: (created, blobs, release) => this.s.exclusive(async () => {
        release();
        const used = this.s.usedChainIds();
        for (const c of [...created].reverse()) if (!used.has(c)) await driver.removeLayer(c).catch(() => undefined);
        await this.s.collectBlobs(blobs);
      }),
    };
  }

  private async commitPull(image: NewImage, names: { tag?: string; repoDigest: string }, release: () => void): Promise<{ updated: boolean }> {
    const { catalog, content, driver } = this.s;
    return this.s.exclusive(async () => {
      try {
        for (const c of image.chainIds) if (!(await driver.hasLayer(c))) throw internal(`layer ${c} vanished during the pull; pull again`);
        for (const b of blobsOf({ ...image, repoTags: [], repoDigests: [] })) {
          if (!(await content.has(b))) throw internal(`blob ${b} vanished during the pull; pull again`);
        }
        const old = catalog.images.get(image.id);
        const moved = names.tag !== undefined && catalog.repos.get(names.tag) !== image.id;
        this.s.markDirty();
        const replaced = await catalog.record([{ image, names: names.tag ? [names.tag] : [], repoDigest: names.repoDigest }]);
        await catalog.writeRepos();
        release();
        await this.s.collectBlobs(replaced);
        return { updated: !old || moved || !old.repoDigests.includes(names.repoDigest) };
      } finally {
        release();
      }
    });
  }
}
