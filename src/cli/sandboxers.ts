// Which tsula-sandboxer(s) `tsula sandbox ls|shell` asks, and asking them. By default the ones
// the daemon named by -H / TSULA_HOST uses (its /info lists them: the vmm runtime's, with its
// state dir, and each cri-sandboxers entry, with its socket); a sandboxer is asked directly
// only when the user names it (--address SOCK, --sandboxer-state DIR). A sandboxer known by
// its state dir is asked over ttrpc (<state>/task.sock), one known by its Controller socket
// over gRPC on that socket (one unary call over node:http2: the CLI loads no gRPC library).
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { StatusError, type Cli } from './context.js';
import {
  ADMIN_LIST_GRPC_PATH, ADMIN_SERVICE, DEFAULT_ADDRESS, decodeJson, encodeJson, taskSocketOf, type ListResponse, type SandboxSummary,
} from '../sandboxer/admin.js';

/** A sandboxer to ask: by its state dir or by its Controller socket, and why this one. */
export interface SandboxerRef { state?: string; address?: string; source: string }

const where = (s: SandboxerRef) => s.state ?? s.address ?? '';

/** The sandboxers to ask: the one named by a flag, else the daemon's. */
export async function sandboxersOf(cli: Cli, o: { state?: string; address?: string }): Promise<SandboxerRef[]> {
  if (o.state) return [{ state: o.state, source: '--sandboxer-state' }];
  if (o.address) return [{ address: o.address.replace(/^unix:\/\//, ''), source: '--address' }];
  let info: { Sandboxers?: Array<{ Runtime: string; Address?: string; State?: string }> | null };
  try {
    info = await cli.client.json('GET', '/info');
  } catch (e) {
    throw new StatusError(1, `cannot ask tsulad at ${cli.host} which sandboxers it uses: ${e instanceof Error ? e.message : String(e)}\n` +
      `To list a tsula-sandboxer directly: tsula sandbox ls --address SOCK (the default one's: --address ${DEFAULT_ADDRESS})`);
  }
  const list = (info.Sandboxers ?? []).map((s) => ({
    ...(s.State ? { state: s.State } : { address: (s.Address ?? '').replace(/^unix:\/\//, '') }),
    source: `tsulad's "${s.Runtime}" runtime, ${cli.host}`,
  }));
  if (!list.length) throw new StatusError(1, `tsulad at ${cli.host} uses no sandboxer (its /info lists none)`);
  return list;
}

/** Does the sandboxer run (its socket is there)? Asking one that does not is the caller's error. */
async function present(s: SandboxerRef): Promise<boolean> {
  const sock = s.state ? taskSocketOf(s.state) : s.address!;
  return fs.stat(sock).then(() => true, () => false);
}

function notRunning(s: SandboxerRef): StatusError {
  if (s.state) {
    const sock = taskSocketOf(s.state);
    return new StatusError(1, `no tsula-sandboxer runs on ${s.state} (no ${sock}); tsulad starts its own on the first --runtime vmm container`);
  }
  return new StatusError(1, `no tsula-sandboxer listens on ${s.address}`);
}

/**
 * Each sandboxer that runs, with its sandboxes. Named directly, one that does not run is an
 * error; of the daemon's, those not running are left out (the vmm one starts on first use),
 * and only if none runs is that an error.
 */
export async function listAll(refs: SandboxerRef[]): Promise<Array<{ ref: SandboxerRef; sandboxes: SandboxSummary[] }>> {
  const up: SandboxerRef[] = [];
  for (const r of refs) if (await present(r)) up.push(r);
  if (!up.length) throw notRunning(refs[0]!);
  const out = [];
  for (const ref of up) out.push({ ref, sandboxes: await listSandboxes(ref) });
  return out;
}

/** Ask one sandboxer for its sandboxes (Admin.List). */
export async function listSandboxes(s: SandboxerRef): Promise<SandboxSummary[]> {
  if (!(await present(s))) throw notRunning(s);
  try {
    const res = s.state ? await listTtrpc(taskSocketOf(s.state)) : await grpcUnaryJson<ListResponse>(s.address!, ADMIN_LIST_GRPC_PATH, {});
    return res.sandboxes ?? [];
  } catch (e) {
    if (e instanceof StatusError) throw e;
    if ((e as { code?: number }).code === UNIMPLEMENTED) {
      throw new StatusError(1, `tsula-sandboxer at ${where(s)} does not know ${ADMIN_SERVICE}/List: it is older than this tsula, restart it`);
    }
    throw new StatusError(1, `tsula-sandboxer at ${where(s)}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const UNIMPLEMENTED = 12;

async function listTtrpc(sock: string): Promise<ListResponse> {
  const { TtrpcClient } = await import('../ttrpc/client.js');
  let client;
  try {
    client = await TtrpcClient.connect(sock, { timeoutMs: 5000 });
  } catch (e) {
    throw new StatusError(1, `tsula-sandboxer is not running (${e instanceof Error ? e.message : String(e)})`);
  }
  try {
    return decodeJson<ListResponse>(await client.callRaw(ADMIN_SERVICE, 'List', encodeJson({}), { timeoutMs: 10_000 }));
  } finally {
    client.close();
  }
}

/**
 * One unary gRPC call with a JSON body over a unix socket: HTTP/2 POST, the message in
 * gRPC's 5-byte frame, the status in the trailers (or in the headers of an error without body).
 */
export async function grpcUnaryJson<T>(sock: string, path: string, req: unknown, timeoutMs = 10_000): Promise<T> {
  const http2 = await import('node:http2');
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(sock) });
  try {
    return await new Promise<T>((resolve, reject) => {
      session.on('error', reject);
      const body = Buffer.from(JSON.stringify(req));
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const take = (h: Record<string, unknown>) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      stream.on('response', take);
      stream.on('trailers', take);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.setTimeout(timeoutMs, () => { stream.close(); reject(new Error(`no answer from ${sock} in ${timeoutMs / 1000} s`)); });
      stream.on('end', () => {
        if (status !== '0') {
          reject(Object.assign(new Error(message || `gRPC status ${status ?? 'missing'}`), { code: Number(status) }));
          return;
        }
        const buf = Buffer.concat(chunks);
        const len = buf.length >= 5 ? buf.readUInt32BE(1) : 0;
        resolve(JSON.parse(buf.subarray(5, 5 + len).toString('utf8') || '{}') as T);
      });
      stream.end(Buffer.concat([head, body]));
    });
  } finally {
    session.close();
  }
}
