// Port forwarding over WebSocket, as kubelet's portforward/websocket.go serves it: the ports
// are known before the upgrade (the CRI request's, else the `port` query parameters), and
// each gets two channels, 2n data (read-write) and 2n+1 error (write), both starting with the
// port as 2 little-endian bytes. There is one forwarded connection per port, for the life of
// the WebSocket: when every port's forward is over, the server closes (1000). A failure is
// written as text on the port's error channel.
//
// The client cannot half-close a channel here, so the pod's side ending its output ends
// that forwarded connection (as containerd's PortForward returns when either copy ends).
import type { Logger } from '../../../common/log.js';
import { forwardPort } from '../portforward.js';
import type { StreamingRuntime } from '../runtime.js';
import { ChannelConnection, ChannelKind, codecFor, type WsChannel } from './channels.js';
import type { WsConnection } from '../../../common/websocket/connection.js';

export const WS_PORT_FORWARD_PROTOCOLS: readonly string[] = ['', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];

/** kubelet's NewV4Options: every `port` parameter, each a comma-separated list of 1..65535. */
export function portsFromQuery(query: URLSearchParams): number[] {
  const values = query.getAll('port');
  if (!values.length) throw new Error('query parameter "port" is required');
  const ports: number[] = [];
  for (const v of values) {
    if (!v) throw new Error('query parameter "port" cannot be empty');
    for (const p of v.split(',')) {
      if (!/^\d+$/.test(p) || Number(p) > 0xffff) throw new Error(`unable to parse "${v}" as a port`);
      if (Number(p) < 1) throw new Error(`port "${v}" must be > 0`);
      ports.push(Number(p));
    }
  }
  return ports;
}

export class WsPortForwardSession {
  readonly mux: ChannelConnection;
  private readonly ac = new AbortController();

  constructor(
    private readonly ws: WsConnection,
    protocol: string,
    private readonly podSandboxId: string,
    private readonly ports: readonly number[],
    private readonly runtime: StreamingRuntime,
    private readonly log?: Logger,
  ) {
    const kinds = ports.flatMap(() => [ChannelKind.ReadWrite, ChannelKind.Write]);
    this.mux = new ChannelConnection(ws, codecFor(protocol), kinds, log);
    void ws.done.then(() => this.ac.abort());
  }

  async serve(): Promise<void> {
    const ch = this.mux.channels;
    for (const [i, port] of this.ports.entries()) {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16LE(port);
      ch[2 * i]!.write(prefix);
      ch[2 * i + 1]!.write(prefix);
    }
    await Promise.all(this.ports.map((port, i) => this.forward(port, ch[2 * i]!, ch[2 * i + 1]!)));
    this.ws.close();
  }

  private async forward(port: number, data: WsChannel, error: WsChannel): Promise<void> {
    // The pod's side is done writing: nothing can tell the client, so the connection is over.
    data.once('finish', () => data.endInput());
    try {
      await forwardPort(this.runtime, this.podSandboxId, port, data, error, this.ac.signal, this.log);
    } finally {
      data.resume();
    }
  }
}
