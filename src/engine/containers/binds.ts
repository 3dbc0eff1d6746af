// docker's bind syntax, host:container[:ro|rw], as the engine keeps it (model.ts Bind).
import * as path from 'node:path';
import { invalidArgument } from '../../common/errors.js';
import type { Bind } from './model.js';

/** docker's -v host:container[:ro|rw] (named volumes are not supported yet). */
export function parseBind(spec: string): Bind {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalidArgument(`invalid volume specification: "${spec}": want host-path:container-path[:ro|rw]`);
  const [src, dst, mode = 'rw'] = parts as [string, string, string?];
  if (!path.isAbsolute(src)) throw invalidArgument(`invalid volume specification: "${spec}": named volumes are not supported, the host path must be absolute`);
  if (!path.isAbsolute(dst) || dst === '/') throw invalidArgument(`invalid volume specification: "${spec}": the container path must be absolute and not "/"`);
  if (!['ro', 'rw'].includes(mode)) throw invalidArgument(`invalid volume specification: "${spec}": invalid mode "${mode}"`);
  return { source: path.normalize(src), destination: path.normalize(dst), readonly: mode === 'ro', propagation: 'rprivate', spec };
}

/**
 * dockerd's validateBindDaemonRoot: a bind of a path in the daemon's root, or above it, must
 * not hold private copies of the mounts the daemon makes and removes there (overlays, shm):
 * with no propagation asked it is rslave, rslave and rshared stay, any other is refused.
 */
export function daemonRootBinds(binds: Bind[], root: string): void {
  const inside = (a: string, b: string) => a === b || a.startsWith(b.endsWith('/') ? b : `${b}/`);
  for (const b of binds) {
    if (b.origin === 'volumes-from' || (!inside(b.source, root) && !inside(root, b.source))) continue;
    if (b.implicitPropagation) b.propagation = 'rslave';
    else if (b.propagation !== 'rslave' && b.propagation !== 'rshared') {
      throw invalidArgument(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: ${JSON.stringify(root)}, bind mount source: ${JSON.stringify(b.source)}, propagation: ${JSON.stringify(b.propagation)}`);
    }
  }
}
