// tsula-agent: runs in the guest (started by /init), serves ttrpc on the virtio-serial port
// `agent.channel.0`. The host (the vmm kind in tsula-sandboxer) is the only peer. Owns the
// guest's containers (conmon + runc); may call only ttrpc, the generated protos, common/
// and the runc runtime (see deps.ts).
import { existsSync, readFileSync } from 'node:fs';
import { Port } from './port.js';
import { agentServer } from './service.js';
import { Logger } from './deps.js';
import { AGENT_PORT_NAME } from './paths.js';
import { prespawnCloneSetup } from './clone.js';
import { prespawnNetworkApplier } from './network.js';

export { agentServer } from './service.js';
export * from './protocol.js';

export interface RunAgentOptions {
  port?: string;
  log?: Logger;
  /** ms from node's start to the agent's main(), for the "serving" line */
  startedMs?: number;
}

/** Serve until Shutdown; resolves then (the caller exits and /init powers the VM off). */
export async function runAgent(o: RunAgentOptions = {}): Promise<void> {
  // vmm.toml's enable_debug reaches the guest as tsula.debug=1 on the kernel command line
  const cmdline = readFileSync('/proc/cmdline', 'utf8');
  const debug = /(^|\s)tsula\.debug=1(\s|$)/.test(cmdline);
  // a VM template's guest: its clones' CloneSetup feeds a program started now (clone.ts), and
  // their first ConfigureNetwork its `ip` applier (network.ts; idle in a clone that gets no NIC)
  if (/(^|\s)tsula\.template=1(\s|$)/.test(cmdline)) {
    prespawnCloneSetup();
    prespawnNetworkApplier();
  }
  const log = o.log ?? new Logger(debug ? 'debug' : 'info');
  const path = o.port ?? `/dev/virtio-ports/${AGENT_PORT_NAME}`;
  let stopping = false;
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  const { server, tasks } = agentServer({ log, onShutdown: () => { stopping = true; done(); } });
  await tasks.init();
  for (let i = 0; i < 500 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 10));
  // one session per host connection on a port that stays open (see port.ts)
  let port: Port | null = null;
  const serveOnce = (): void => {
    if (stopping) return;
    try {
      port ??= Port.open(path);
    } catch (e) {
      log.error('cannot open the agent port', { path, err: (e as Error).message });
      setTimeout(serveOnce, 1000);
      return;
    }
    const session = port.session();
    session.once('close', () => {
      log.info('the host closed the agent channel; waiting for the next connection', { port: path });
      setImmediate(serveOnce);
    });
    server.serve(session);
  };
  serveOnce();
  // where a VM's boot time goes (bench/vmm.mjs reads these): the guest's uptime now, and how
  // long ago node started (its exec and dynamic linking come before) and reached main()
  const uptimeMs = Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000);
  log.info('tsula-agent serving', { port: path, uptime_ms: uptimeMs, node_ms: Math.round(process.uptime() * 1000), main_ms: o.startedMs });
  await finished;
}
