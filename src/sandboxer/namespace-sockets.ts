// One task socket per containerd namespace. containerd names no namespace in its calls to a
// shim (1.6 sends no containerd-namespace-ttrpc metadata: each runc-v2 shim serves one
// namespace's tasks), yet one sandboxer serves every namespace, where two tasks may share an
// id (`ctr -n a run ... c1` and `ctr -n b run ... c1`). So the launcher's `start` gives
// containerd the task socket of the container's namespace, and every call on it is that
// namespace's. Made on the first task of a namespace, again at a restart for the namespaces
// with tasks; the shell launcher's fast path answers with one that exists.
import { promises as fs } from 'node:fs';
import { claimSocket } from '../common/unixsocket.js';
import { serveLazily, type ConnectionServer, type LazyEndpoint } from '../common/lazy-endpoint.js';
import type { Logger } from '../common/log.js';
import { namespaceSocketDir, namespaceSocketOf } from './admin.js';

export class NamespaceSockets {
  private served = new Map<string, Promise<LazyEndpoint>>();

  constructor(
    private readonly state: string,
    /** The Task API for one namespace's tasks. */
    private readonly load: (ns: string) => Promise<ConnectionServer>,
    private readonly log: Logger,
  ) {}

  /** Start afresh: a socket left by an earlier sandboxer answers nobody, and the fast path must not hand it out. */
  async reset(): Promise<void> {
    await fs.rm(namespaceSocketDir(this.state), { recursive: true, force: true });
    await fs.mkdir(namespaceSocketDir(this.state), { recursive: true, mode: 0o700 });
  }

  /** Serve namespace `ns`'s task socket (once); its address for containerd. */
  async listen(ns: string): Promise<string> {
    const sock = namespaceSocketOf(this.state, ns);
    let p = this.served.get(ns);
    if (!p) {
      p = claimSocket(sock).then((claim) => serveLazily(claim, `task API of namespace ${ns}`, () => this.load(ns), this.log));
      this.served.set(ns, p);
      p.catch(() => this.served.delete(ns)); // the next start tries again
    }
    await p;
    return `unix://${sock}`;
  }

  async close(): Promise<void> {
    const all = [...this.served.values()];
    this.served.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
  }
}
