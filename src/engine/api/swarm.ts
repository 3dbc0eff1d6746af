// Swarm's endpoints as dockerd answers them on a node that is in no swarm (tsula runs none):
// 503 with its words, which clients take as "no swarm here" (docker-py's leave_swarm(force)
// ignores the 503; `docker service ls` prints the hint), not a 404 "page not found".
// Making a swarm (init, join) is refused plainly.
import type { Router } from './http.js';
import { unavailable, unimplemented } from '../../common/errors.js';

/** daemon/cluster's errSwarmNotManager (errNoManager of a node with no swarm): cluster volumes say it too. */
export const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** daemon/cluster's errNoSwarm. */
const NO_SWARM = 'This node is not part of a swarm';

export function swarmRoutes(r: Router): void {
  const notManager = async () => { throw unavailable(NOT_MANAGER); };
  const noSwarm = async () => { throw unavailable(NO_SWARM); };
  const notHere = async () => { throw unimplemented('swarm mode is not supported by tsula: it runs no swarm (containers, pods and networks are local)'); };
  r.add('GET', '/swarm', notManager);
  r.add('GET', '/swarm/unlockkey', notManager);
  r.add('POST', '/swarm/update', notManager);
  r.add('POST', '/swarm/leave', noSwarm);
  r.add('POST', '/swarm/unlock', notManager);
  r.add('POST', '/swarm/init', notHere);
  r.add('POST', '/swarm/join', notHere);
  for (const kind of ['services', 'nodes', 'tasks', 'secrets', 'configs']) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      r.add(method, `/${kind}`, notManager);
      r.add(method, `/${kind}/{rest*}`, notManager);
    }
  }
}
