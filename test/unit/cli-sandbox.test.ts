// `tsula sandbox ls|shell`: the pure parts (prefix resolution, the table, who may have a
// shell), then the CLI run for real against a throwaway Admin.List ttrpc server, one on gRPC
// (a sandboxer known by its Controller socket), a fake tsulad's /info and a fake guest debug
// console (a unix socket that answers each line with "guest: <line>").
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { renderTable, resolveSandbox, shellTarget } from '../../src/cli/commands/sandbox.js';
import { ADMIN_LIST_GRPC_PATH, ADMIN_SERVICE, encodeJson, taskSocketOf, type ListResponse, type SandboxSummary } from '../../src/sandboxer/admin.js';
import { TtrpcServer } from '../../src/ttrpc/server.js';

// the CLI as tsc compiled it next to this test (always in step with the sources under test)
const TSULA = fileURLToPath(new URL('../../src/bin/tsula.js', import.meta.url));

const NOW = Date.parse('2024-05-01T12:00:00Z');
const VM = `aaaa1111${'0'.repeat(56)}`;
const VM_STOPPED = `aaab2222${'0'.repeat(56)}`;
const RUNC = `bbbb3333${'0'.repeat(56)}`;

const dir = mkdtempSync(join(tmpdir(), 'tsula-sbx-'));
const debugSock = join(dir, 'debug.sock');

const SANDBOXES: SandboxSummary[] = [
  { id: RUNC, kind: 'runc', state: 'ready', pid: 4242, createdAt: new Date(NOW - 3 * 3600_000).toISOString() },
  {
    id: VM, kind: 'vmm', state: 'ready', pid: 777, createdAt: new Date(NOW - 5 * 60_000).toISOString(),
    hypervisor: 'qemu', kernelRelease: '6.1.0-tsula', debugSocket: debugSock,
  },
  {
    id: VM_STOPPED, kind: 'vmm', state: 'stopped', pid: 0, createdAt: new Date(NOW - 2 * 86400_000).toISOString(),
    hypervisor: 'qemu', debugSocket: join(dir, 'gone.sock'),
  },
];

describe('sandbox: pure parts', () => {
  it('resolves a full id, a unique prefix; refuses unknown and ambiguous ones', () => {
    assert.equal(resolveSandbox(SANDBOXES, VM).id, VM);
    assert.equal(resolveSandbox(SANDBOXES, 'aaaa').id, VM);
    assert.equal(resolveSandbox(SANDBOXES, 'b').id, RUNC);
    assert.throws(() => resolveSandbox(SANDBOXES, 'nope'), /^Error: no such sandbox: nope$|no such sandbox: nope/);
    assert.throws(() => resolveSandbox(SANDBOXES, ''), /no such sandbox/);
    assert.throws(() => resolveSandbox(SANDBOXES, 'aaa'), (e: Error) => {
      assert.match(e.message, /ambiguous/);
      assert.ok(e.message.includes(VM) && e.message.includes(VM_STOPPED), e.message);
      return true;
    });
  });

  it('only a ready vmm sandbox has a shell', () => {
    assert.equal(shellTarget(SANDBOXES[1]!), debugSock);
    assert.throws(() => shellTarget(SANDBOXES[0]!), /is of kind runc: it has no guest to open a shell in/);
    assert.throws(() => shellTarget(SANDBOXES[2]!), /is stopped/);
    assert.throws(() => shellTarget({ ...SANDBOXES[1]!, debugSocket: undefined }), /no debug console/);
  });

  it('renders the table newest first, ids cut to 12 unless asked not to', () => {
    const t = renderTable(SANDBOXES, { trunc: true, now: NOW });
    assert.equal(t, [
      'SANDBOX ID     KIND      STATE     PID       CREATED         KERNEL',
      'aaaa11110000   vmm       ready     777       5 minutes ago   6.1.0-tsula',
      'bbbb33330000   runc      ready     4242      3 hours ago     ',
      'aaab22220000   vmm       stopped   -         2 days ago      ',
      '',
    ].join('\n'));
    const full = renderTable(SANDBOXES, { trunc: false, now: NOW });
    assert.ok(full.split('\n')[1]!.startsWith(`${VM}   vmm`), full);
    assert.equal(renderTable([], { trunc: true }), 'SANDBOX ID   KIND      STATE     PID       CREATED   KERNEL\n');
  });
});

interface RunResult { code: number; stdout: string; stderr: string }

function cli(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...o.env };
    if (!o.env?.TSULA_SANDBOXER_STATE) delete env.TSULA_SANDBOXER_STATE;
    const p = spawn(process.execPath, [TSULA, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
    p.stdin.on('error', () => {});
    p.stdin.end(o.input ?? '');
  });
}

describe('sandbox: the CLI against a fake sandboxer', () => {
  const ttrpc = new TtrpcServer();
  const conns = new Set<net.Socket>();
  const guest = net.createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // a shell's echo of each line, and printf's output for the markers' lines
        s.write(`echo: ${line}\n`);
        const m = /printf '%s%s\\n' (\S+) ([^\s;]+)/.exec(line);
        s.write(m ? `${m[1]}${m[2]}\n` : `guest: ${line}\n`);
      }
    });
  });
  const state = ['--sandboxer-state', dir];

  before(async () => {
    ttrpc.register(ADMIN_SERVICE, {
      List: () => encodeJson({ sandboxes: SANDBOXES } satisfies ListResponse),
    });
    await ttrpc.listen(taskSocketOf(dir));
    await new Promise<void>((resolve) => guest.listen(debugSock, resolve));
  });

  after(async () => {
    await ttrpc.close();
    for (const s of conns) s.destroy();
    await new Promise((resolve) => guest.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('ls prints the table', async () => {
    const r = await cli(['sandbox', 'ls', ...state]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `tsula-sandboxer ${dir} (--sandboxer-state)`);
    assert.match(lines[1]!, /^SANDBOX ID\s+KIND\s+STATE\s+PID\s+CREATED\s+KERNEL$/);
    assert.equal(lines.length, 5);
    assert.match(r.stdout, /aaaa11110000\s+vmm\s+ready\s+777\s+.* ago\s+6\.1\.0-tsula/);
    assert.match(r.stdout, /bbbb33330000\s+runc\s+ready\s+4242/);
  });

  it('ls -q --no-trunc (alias ps) prints full ids', async () => {
    const r = await cli(['sandbox', 'ps', '-q', '--no-trunc', ...state]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), [VM, VM_STOPPED, RUNC].sort());
  });

  it('ls without a sandboxer says so', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const r = await cli(['sandbox', 'ls', '--sandboxer-state', empty]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `no tsula-sandboxer runs on ${empty} (no ${empty}/task.sock); tsulad starts its own on the first --runtime vmm container`);
  });

  /** A fake tsulad on a socket of its own whose /info lists these sandboxers. */
  async function fakeDaemon(sandboxers: unknown[], fn: (host: string) => Promise<void>): Promise<void> {
    const sock = join(dir, `tsulad-${Math.random().toString(36).slice(2)}.sock`);
    const http = await import('node:http');
    const daemon = http.createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(req.url === '/v1.41/info' ? JSON.stringify({ Sandboxers: sandboxers }) : '{}');
    });
    await new Promise<void>((resolve) => daemon.listen(sock, resolve));
    try {
      await fn(`unix://${sock}`);
    } finally {
      await new Promise((resolve) => daemon.close(resolve));
    }
  }

  it('ls without a choice lists the sandboxer of tsulad (-H), as its /info names it, whatever TSULA_SANDBOXER_STATE says', async () => {
    await fakeDaemon([{ Runtime: 'vmm', Name: 'vmm', Address: '/x.sock', State: dir }], async (host) => {
      const r = await cli(['-H', host, 'sandbox', 'ls'], { env: { TSULA_SANDBOXER_STATE: join(dir, 'elsewhere') } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.split('\n')[0], `tsula-sandboxer ${dir} (tsulad's "vmm" runtime, ${host})`);
      assert.match(r.stdout, /aaaa11110000\s+vmm\s+ready/);
      // TSULA_HOST names the daemon as -H does
      const viaEnv = await cli(['sandbox', 'ls', '-q'], { env: { TSULA_HOST: host } });
      assert.equal(viaEnv.code, 0, viaEnv.stderr);
      assert.equal(viaEnv.stdout.trim().split('\n').length, 3);
    });
  });

  it('without tsulad there is no silent default: the error says how to ask a sandboxer directly', async () => {
    const host = `unix://${join(dir, 'no-daemon.sock')}`;
    const r = await cli(['-H', host, 'sandbox', 'ls']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^cannot ask tsulad at ${host} which sandboxers it uses: `));
    assert.match(r.stderr, /tsula sandbox ls --address SOCK \(the default one's: --address \/run\/tsula-sandboxer\.sock\)/);
    assert.equal(r.stdout, '');
  });

  it('a sandboxer known by its socket only (a cri-sandboxers entry, --address) is asked over gRPC', async () => {
    const sock = join(dir, 'controller.sock');
    const server = new grpc.Server();
    const json = (v: unknown) => Buffer.from(JSON.stringify(v));
    const unjson = (b: Buffer) => JSON.parse(b.toString() || '{}') as unknown;
    server.addService({
      List: { path: ADMIN_LIST_GRPC_PATH, requestStream: false, responseStream: false, originalName: 'List',
        requestSerialize: json, requestDeserialize: unjson, responseSerialize: json, responseDeserialize: unjson },
    }, { List: (_c: unknown, cb: grpc.sendUnaryData<ListResponse>) => cb(null, { sandboxes: [SANDBOXES[0]!] }) });
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    try {
      const direct = await cli(['sandbox', 'ls', '--address', sock]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(direct.stdout.split('\n')[0], `tsula-sandboxer ${sock} (--address)`);
      assert.match(direct.stdout, /bbbb33330000\s+runc\s+ready\s+4242/);
      // both of a daemon's sandboxers: its vmm one (by state dir) and a cri-sandboxers one (by socket)
      await fakeDaemon([{ Runtime: 'vmm', Name: 'vmm', Address: '/x.sock', State: dir }, { Runtime: 'runc-sandbox', Name: 'runc', Address: `unix://${sock}` }], async (host) => {
        const r = await cli(['-H', host, 'sandbox', 'ls']);
        assert.equal(r.code, 0, r.stderr);
        const heads = r.stdout.split('\n').filter((l) => l.startsWith('tsula-sandboxer '));
        assert.deepEqual(heads, [`tsula-sandboxer ${dir} (tsulad's "vmm" runtime, ${host})`, `tsula-sandboxer ${sock} (tsulad's "runc-sandbox" runtime, ${host})`]);
      });
      // a daemon whose vmm sandboxer does not run (yet) lists the ones that do
      await fakeDaemon([{ Runtime: 'vmm', Name: 'vmm', Address: '/x.sock', State: join(dir, 'not-started') }, { Runtime: 'runc-sandbox', Name: 'runc', Address: sock }], async (host) => {
        const r = await cli(['-H', host, 'sandbox', 'ls', '-q']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, 'bbbb33330000\n');
      });
      const none = await cli(['sandbox', 'ls', '--address', join(dir, 'nobody.sock')]);
      assert.equal(none.code, 1);
      assert.equal(none.stderr.trim(), `no tsula-sandboxer listens on ${join(dir, 'nobody.sock')}`);
    } finally {
      server.forceShutdown();
    }
  });

  it('shell with piped stdin sends it and prints what the guest says', async () => {
    const t0 = Date.now();
    const r = await cli(['sandbox', 'shell', ...state, 'aaaa'], { input: 'uname -r\nexit\n' });
    assert.equal(r.code, 0, r.stderr);
    // only what ran between the markers: not the setup line, not a marker itself
    assert.ok(r.stdout.startsWith('echo: uname -r\nguest: uname -r\necho: exit\nguest: exit\n'), r.stdout);
    assert.ok(!r.stdout.includes('stty -echo'), r.stdout);
    assert.ok(!/__tsula_[0-9a-f]+_(start|end)/.test(r.stdout), r.stdout);
    assert.ok(!r.stderr.includes('Ctrl-]'), r.stderr); // not a terminal: no hint
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('shell refuses unknown ids, runc sandboxes, stopped VMs and ambiguous prefixes', async () => {
    let r = await cli(['sandbox', 'shell', ...state, 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'no such sandbox: nope');
    r = await cli(['sandbox', 'shell', ...state, 'bbbb']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `sandbox ${RUNC} is of kind runc: it has no guest to open a shell in`);
    r = await cli(['sandbox', 'shell', ...state, VM_STOPPED]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is stopped: its VM is not running/);
    r = await cli(['sandbox', 'shell', ...state, 'aaa']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(VM) && r.stderr.includes(VM_STOPPED), r.stderr);
  });

  it('has help', async () => {
    const r = await cli(['sandbox', 'shell', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: {2}tsula sandbox shell \[OPTIONS\] SANDBOX/);
    assert.match(r.stdout, /--sandboxer-state string/);
    assert.match(r.stdout, /--address string/);
  });
});
