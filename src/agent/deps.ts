// What the agent takes from the rest of tsula (it is bundled alone into the guest image):
// the ttrpc server, the logger, and the conmon + runc runtime (whose attach socket needs
// the node-unix-socket addon: the guest image carries it in /opt/tsula/node_modules).
export { TtrpcServer } from '../ttrpc/server.js';
export { Logger } from '../common/log.js';
export { RuncConmonRuntime } from '../runtime/runc/runtime.js';
