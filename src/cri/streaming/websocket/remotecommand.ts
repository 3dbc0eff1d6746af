// Exec and attach over WebSocket, as kubelet's remotecommand/websocket.go serves them (plus
// v5, which apiserver's wsstream serves to client-go's WebSocket executor, the one crictl
// -r websocket uses): channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, the streams
// the CRI request asked for open (the others ignored), error and resize always open. The
// command starts at once (no streams to wait for); an empty message on the lowest channel
// we write tells the client the connection is up. At the end, the status on the error
// channel (v4/v5: metav1.Status JSON, also on success; before v4: the error's text, or
// nothing), then a normal close (1000), which is what ends the client's streams.
import type { Logger } from '../../../common/log.js';
import { errorMessage } from '../../../common/errors.js';
import { internalErrorStatus, statusJson, statusText } from '../protocol.js';
import { resizeEvents, type RemoteCommandOptions, type RunCommand } from '../remotecommand.js';
import type { StreamIO } from '../runtime.js';
import { ChannelConnection, ChannelKind, codecFor, type WsChannel } from './channels.js';
import type { WsConnection } from '../../../common/websocket/connection.js';

export const WsRemoteCommandProtocol = {
  V5: 'v5.channel.k8s.io',
  V4: 'v4.channel.k8s.io',
  V4Base64: 'v4.base64.channel.k8s.io',
  V1: 'channel.k8s.io',
  V1Base64: 'base64.channel.k8s.io',
  /** A client that names no subprotocol: channel.k8s.io. */
  None: '',
} as const;

export const WS_REMOTE_COMMAND_PROTOCOLS: readonly string[] = Object.values(WsRemoteCommandProtocol);

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** kubelet's createChannels: the requested stdio, the error channel, the resize channel. */
export function remoteCommandChannels(o: RemoteCommandOptions): ChannelKind[] {
  return [
    o.stdin ? ChannelKind.Read : ChannelKind.Ignore,
    o.stdout ? ChannelKind.Write : ChannelKind.Ignore,
    o.stderr ? ChannelKind.Write : ChannelKind.Ignore,
    ChannelKind.Write,
    ChannelKind.Read,
  ];
}

export class WsRemoteCommandSession {
  readonly mux: ChannelConnection;

  constructor(
    private readonly ws: WsConnection,
    private readonly protocol: string,
    private readonly opts: RemoteCommandOptions,
    private readonly log?: Logger,
  ) {
    this.mux = new ChannelConnection(ws, codecFor(protocol), remoteCommandChannels(opts), log);
  }

  /** Runs the command and reports; never throws (the client hears, or the log does). */
  async serve(run: RunCommand): Promise<void> {
    const ch = this.mux.channels;
    this.mux.send(this.opts.stdout ? STDOUT : this.opts.stderr ? STDERR : ERROR, Buffer.alloc(0));
    const ac = new AbortController();
    void this.ws.done.then(() => ac.abort());
    const resize = ch[RESIZE]!;
    const sizes = this.opts.tty ? resizeEvents(resize) : undefined;
    if (!sizes) resize.resume();
    const io: StreamIO = {
      tty: this.opts.tty,
      stdin: this.opts.stdin ? ch[STDIN] : undefined,
      stdout: this.opts.stdout ? ch[STDOUT] : undefined,
      stderr: this.opts.stderr ? ch[STDERR] : undefined,
      resize: sizes,
    };
    let status;
    try {
      status = await run(io, ac.signal);
    } catch (e) {
      this.log?.warn('streaming command failed', { error: errorMessage(e) });
      status = internalErrorStatus(errorMessage(e));
    }
    // Output first: what the runtime wrote must be out before the status and the close.
    await Promise.all([flushed(ch[STDOUT]!), flushed(ch[STDERR]!)]);
    const v4 = this.protocol === WsRemoteCommandProtocol.V5 || this.protocol.startsWith('v4.');
    const report = v4 ? statusJson(status) : statusText(status);
    if (report) ch[ERROR]!.write(report);
    await flushed(ch[ERROR]!);
    for (const c of ch) c.resume();
    this.ws.close();
  }
}

/** Ends a channel we write (if the runtime did not) and waits until its writes are out. */
function flushed(c: WsChannel): Promise<void> {
  return new Promise<void>((resolve) => {
    if (c.writableFinished || c.isReset) return resolve();
    c.once('finish', resolve);
    c.once('reset', resolve);
    c.once('close', resolve);
    if (!c.writableEnded) c.end();
  });
}
