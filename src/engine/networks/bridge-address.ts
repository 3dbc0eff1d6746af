// The default bridge's IPv4 addresses against an explicit "bip": dockerd's setupBridgeIPv4
// replaces what docker0 has otherwise (the CNI bridge plugin also refuses a bridge with
// another address); a bridge the host's administrator named is never stripped of one.
import { internal, invalidArgument } from '../../common/errors.js';
import { exec } from '../../common/exec.js';
import type { Logger } from '../../common/log.js';
import { interfaceAddresses } from './ipv4.js';
import type { NetworkRecord } from './model.js';

/** The bridge's IPv4 addresses but the network's gateway's: deleted (ours) or a refusal saying what to do (not ours). */
export async function dropOtherAddresses(n: NetworkRecord, ours: boolean, log: Logger): Promise<void> {
  const pool = n.ipam.config[0];
  if (!pool) return; // (a bridge not there yet has no addresses: interfaceAddresses says none)
  const want = `${pool.gateway}/${pool.subnet.split('/')[1]}`;
  for (const have of await interfaceAddresses(n.bridge)) {
    if (have === want) continue;
    if (!ours) throw invalidArgument(`bridge ${n.bridge} has the address ${have}, not "bip" ${want}: tsulad does not take addresses off a bridge it did not make; remove "bip" (the bridge's own address is then used), or the address (ip addr del ${have} dev ${n.bridge})`);
    log.info('replacing the default bridge\'s address with bip\'s', { bridge: n.bridge, old: have, new: want });
    const d = await exec('ip', ['addr', 'del', have, 'dev', n.bridge]);
    if (d.code !== 0) throw internal(`ip addr del ${have} dev ${n.bridge}: ${d.stderr.trim()}`);
  }
}
