// What a build step does with the engine, through the services it already has: a step's
// container (created from the run config by the Docker-shaped create the API edge owns,
// run with its output streamed, removed), a step's image (the container's changes committed
// by the image store, as docker commit's are), and for COPY/ADD, which make no container in
// dockerd, a writable snapshot of the base image of their own (a `build-` key, which the
// daemon's start-up sweep removes if a crash leaves it).
import { randomBytes } from '../../common/crypto.js';
import { errorMessage } from '../../common/errors.js';
import type { ImageStore } from '../../image/types.js';
import type { MountGuard } from '../../storage/mountguard.js';
import type { ContainerService } from '../containers/service.js';
import { changesTar, type ContainerFiles } from '../containers/files.js';
import type { RunConfig } from './runconfig.js';
import type { BuildOutput } from './output.js';

/** The HostConfig a step's container gets (dockerd's hostConfigFromOptions). */
export interface StepHostConfig {
  NetworkMode: string;
  ShmSize?: number;
  ExtraHosts?: string[];
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  Memory?: number;
  MemorySwap?: number;
  CgroupParent?: string;
  LogConfig: { Type: string; Config: Record<string, string> };
}

/** The engine as the builder uses it (the daemon wires it). */
export interface BuildBackend {
  images: ImageStore;
  containers: ContainerService;
  files: ContainerFiles;
  driver: MountGuard;
  /** Create a container from a docker Config and HostConfig (the API edge's translation). */
  createContainer(config: RunConfig, host: StepHostConfig): Promise<{ Id: string; Warnings: string[] }>;
  engineVersion: string;
}

/** A build's error that carries dockerd's JSON error code (a RUN's exit status). */
export class StepError extends Error {
  constructor(message: string, readonly code: number) { super(message); }
}

/** A writable snapshot over an image's layers, mounted until released. */
export interface Scratch {
  root: string;
  /** Its changes as a layer tar. */
  diff(): Promise<AsyncGenerator<Buffer>>;
  release(): Promise<void>;
}

export async function openScratch(driver: MountGuard, chainIds: string[]): Promise<Scratch> {
  const key = `build-${randomBytes(16).toString('hex')}`;
  try {
    await driver.prepare(key, chainIds);
    const root = await driver.mount(key);
    return {
      root,
      diff: async () => changesTar(await driver.changes(key)),
      release: () => driver.remove(key).catch(() => {}),
    };
  } catch (e) {
    await driver.remove(key).catch(() => {});
    throw e;
  }
}

/** The containers a build made, removed as dockerd's containerManager removes them. */
export class StepContainers {
  private readonly ids = new Set<string>();

  constructor(private readonly be: BuildBackend, private readonly out: BuildOutput) {}

  async create(config: RunConfig, host: StepHostConfig): Promise<string> {
    const { Id, Warnings } = await this.be.createContainer(config, host);
    this.ids.add(Id);
    for (const w of Warnings) this.out.stdout(` ---> [Warning] ${w}\n`);
    this.out.stdout(` ---> Running in ${Id.slice(0, 12)}\n`);
    return Id;
  }

  /**
   * Start the container with its output streamed to the build's, wait for it. A non-zero
   * exit is its status; an abort (the client left) kills it.
   */
  async run(id: string, signal: AbortSignal): Promise<number> {
    const cs = this.be.containers;
    const attached = cs.attach(id, signal);
    let ended: Promise<void> = Promise.resolve();
    const onAbort = () => { void cs.kill(id, 'SIGKILL').catch(() => {}); };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await cs.start(id);
      const st = await attached;
      if (st) {
        ended = new Promise((resolve) => {
          st.onOutput((stream, data) => {
            const text = data.toString('utf8');
            if (stream === 2) this.out.stderr(text); else this.out.stdout(text);
          });
          st.onEnd(() => resolve());
        });
      }
      const code = await cs.wait(id);
      // the last output comes before the stream's end; a stream that never ends is not waited for
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000).unref())]);
      return code;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Remove them all: "Removing intermediate container <id>" for each (dockerd's RemoveAll). */
  async removeAll(): Promise<void> {
    for (const id of [...this.ids]) {
      try {
        await this.be.containers.remove(id, { force: true, volumes: true });
      } catch (e) {
        this.out.stdout(`Error removing intermediate container ${id.slice(0, 12)}: ${errorMessage(e)}\n`);
        return;
      }
      this.ids.delete(id);
      this.out.stdout(`Removing intermediate container ${id.slice(0, 12)}\n`);
    }
  }

  /** After an abort: remove without telling anyone (the client is gone). */
  async removeQuietly(): Promise<void> {
    for (const id of this.ids) await this.be.containers.remove(id, { force: true, volumes: true }).catch(() => {});
    this.ids.clear();
  }
}
