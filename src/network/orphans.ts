// CNI plugins that a previous daemon started and did not see finish run on after its
// kill -9 (they are not its process group's to die with it). A DEL racing such an ADD
// releases nothing and the ADD then takes its lease and firewall rules for good: a restarted
// daemon waits for them (found by CNI_NETNS under its netns dir, delegated IPAM plugins
// included), bounded, then kills what is left; the DELs after clean up what a killed ADD made.
import { promises as fs } from 'node:fs';
import type { Logger } from '../common/log.js';

/** How long a restarted daemon waits for the CNI plugins its predecessor left running. */
export const ORPHAN_WAIT_MS = 15_000;

export async function waitForOrphanPlugins(netnsDir: string, ms = ORPHAN_WAIT_MS, log?: Logger): Promise<void> {
  const want = `CNI_NETNS=${netnsDir}/`;
  const find = async () => {
    const out: number[] = [];
    for (const p of await fs.readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
      const env = await fs.readFile(`/proc/${p}/environ`, 'utf8').catch(() => '');
      if (env.split('\0').some((e) => e.startsWith(want))) out.push(Number(p));
    }
    return out;
  };
  let pids = await find();
  if (!pids.length) return;
  log?.info('network: waiting for CNI plugins the previous daemon left running', { pids });
  for (const end = Date.now() + ms; pids.length && Date.now() < end; pids = await find()) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}
