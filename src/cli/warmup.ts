// Before the CLI's startup snapshot is taken (src/bin/tsula-snapshot.ts), the commands a user
// types most run once against a stand-in daemon on a private unix socket, with their output
// thrown away. V8 keeps the functions they compiled in the snapshot, so a `tsula run` starts
// with its parser, request code and stream pumps already compiled instead of compiling them
// lazily (~6 ms per call; node's own net and stream code included). Nothing a command keeps
// between calls may be touched here: what runs here is frozen into every later start.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable, Readable } from 'node:stream';
import type { Streams } from './context.js';
import { main } from './main.js';
import { frame } from './stdcopy.js';

const ID = 'c0ffee'.padEnd(64, '0');
const CONTAINER = {
  Id: ID, Names: ['/web'], Image: 'busybox', ImageID: `sha256:${'1'.repeat(64)}`, Command: 'sh', Created: 1700000000,
  Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }], Labels: { a: 'b' }, State: 'running',
  Status: 'Up 2 minutes', HostConfig: { NetworkMode: 'bridge' }, Mounts: [],
};
const IMAGE = {
  Id: `sha256:${'1'.repeat(64)}`, ParentId: '', RepoTags: ['busybox:latest'], RepoDigests: [], Created: 1700000000,
  Size: 2000000, SharedSize: -1, VirtualSize: 2000000, Labels: null, Containers: -1,
};
const INSPECT = {
  Id: ID, Name: '/web', Created: '2026-01-01T00:00:00Z', Path: 'sh', Args: [],
  State: { Status: 'running', Running: true, Pid: 1, ExitCode: 0 }, Config: { Tty: false, Image: 'busybox' },
  HostConfig: { Runtime: 'runc', AutoRemove: false }, NetworkSettings: { Networks: {} },
};

/** The stand-in's answer to one request head (method and path, query dropped). */
function answer(method: string, path: string): string | Buffer {
  const json = (code: number, body: unknown) => {
    const b = JSON.stringify(body);
    return `HTTP/1.1 ${code} X\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
  };
  const p = path.replace(/^\/v[\d.]+/, '').replace(/\?.*$/, '');
  if (/\/(attach|exec\/\w+\/start)$/.test(p) && method === 'POST') {
    // a hijacked stream: the head, both streams' frames, then the end
    return Buffer.concat([
      Buffer.from('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n'),
      frame(1, 'out\n'), frame(2, 'err\n'),
    ]);
  }
  if (p.endsWith('/wait')) return 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n{"StatusCode":0}\n\r\n0\r\n\r\n';
  if (p === '/containers/create' || p.endsWith('/exec')) return json(201, { Id: ID, Warnings: [] });
  if (p === '/containers/json') return json(200, [CONTAINER]);
  if (p === '/images/json') return json(200, [IMAGE]);
  if (p.startsWith('/exec/') && p.endsWith('/json')) return json(200, { ID, Running: false, ExitCode: 0 });
  if (p === `/containers/${ID}/json` || p === '/containers/web/json') return json(200, INSPECT);
  if (p.endsWith('/logs')) {
    const b = Buffer.concat([frame(1, 'line\n'), frame(2, 'line\n')]);
    return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nContent-Length: ${b.length}\r\n\r\n`), b]);
  }
  if (method === 'POST' || method === 'DELETE') return 'HTTP/1.1 204 No Content\r\n\r\n';
  return json(404, { message: `No such container: ${p.split('/')[2] ?? ''}` });
}

function standIn(sock: string): Promise<net.Server> {
  const server = net.createServer((c) => {
    let head = '';
    c.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return; // a body: not read
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [method = '', path = ''] = head.slice(0, head.indexOf('\r\n')).split(' ');
      c.end(answer(method, path));
    });
    c.on('error', () => {});
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, () => resolve(server));
  });
}

function sinks(): Streams {
  const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
  return { stdin: Readable.from([]), stdout: sink(), stderr: sink() } as unknown as Streams;
}

/** What warms: the common commands and one error of each kind (404, no daemon, bad flag). */
const COMMAND_LINES = [
  ['run', '--rm', '--network', 'none', 'busybox', 'true'],
  ['run', '-d', '--name', 'web', '-p', '8080:80', '-v', '/tmp:/data', '-e', 'A=1', '--memory', '64m', 'busybox', 'sleep', '9'],
  ['create', '--name', 'web', 'busybox'],
  ['start', 'web'], ['stop', 'web'], ['kill', 'web'], ['rm', '-f', 'web'],
  ['exec', 'web', 'true'], ['logs', 'web'], ['inspect', 'web'], ['inspect', 'nope'],
  ['ps', '-a'], ['ps', '--format', '{{.ID}} {{.Names}}'], ['images'],
  ['run', '--no-such-flag', 'busybox'],
];

/** Run COMMAND_LINES against a stand-in daemon, then against no daemon at all. */
export async function warmUp(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsula-warmup-'));
  const sock = join(dir, 'd.sock');
  const server = await standIn(sock);
  try {
    for (const argv of COMMAND_LINES) await main(['-H', `unix://${sock}`, ...argv], sinks());
    await main(['-H', `unix://${join(dir, 'none.sock')}`, 'ps'], sinks());
  } finally {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}
