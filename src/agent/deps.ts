// What the agent takes from the rest of tsula (it is bundled alone into the guest image):
// only the ttrpc server and the logger, nothing that loads a native addon.
export { TtrpcServer } from '../ttrpc/server.js';
export { Logger } from '../common/log.js';
