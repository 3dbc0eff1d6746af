// The guest channel's protocol without a VM: tsula-agent's services (agentServer) on one
// end of a unix socket, the host's GuestTasks on the other, real processes in between.
// The VM tests (test/integration/vmm-boot.test.ts) run the same code over virtio-serial.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { agentServer } from '../../src/agent/index.js';
import { GuestTasks, VM_DIED_EXIT } from '../../src/sandboxer/kinds/vmm/index.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { codeOf, Code } from '../../src/ttrpc/status.js';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-agent-'));
let shutdowns = 0;
const { server } = agentServer({ onShutdown: () => { shutdowns++; } });
const sock = path.join(dir, 'agent.sock');
await server.listen(sock);
after(async () => { await server.close(); await fs.rm(dir, { recursive: true, force: true }); });

async function connect(): Promise<GuestTasks> {
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(sock);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
  return new GuestTasks(TtrpcClient.fromStream(s, 'test agent'));
}

test('ping answers with the kernel release and the agent version', async () => {
  const g = await connect();
  const p = await g.ping();
  assert.equal(p.kernelRelease, os.release());
  assert.equal(p.version, '0.1.0');
  g.vmExited('done');
});

test('create runs nothing until start; stdout, stderr, exit status, delete', async () => {
  const g = await connect();
  const marker = path.join(dir, 'ran');
  const pid = await g.create('t1', { args: ['sh', '-c', `touch ${marker}; echo out; echo err >&2; exit 7`] });
  assert.ok(pid > 0);
  await new Promise((r) => setTimeout(r, 100));
  await assert.rejects(fs.stat(marker), 'the program ran before Start');
  const [out, err] = [g.readAll('t1', 'stdout'), g.readAll('t1', 'stderr')];
  assert.equal(await g.start('t1'), pid);
  assert.equal((await out).toString(), 'out\n');
  assert.equal((await err).toString(), 'err\n');
  assert.equal((await g.wait('t1')).exitStatus, 7);
  assert.equal((await g.state('t1')).status, 3 /* STOPPED */);
  assert.equal((await g.delete('t1')).exitStatus, 7);
  g.vmExited('done');
});

test('stdin, kill, and the errors containerd relies on', async () => {
  const g = await connect();
  await g.create('cat', { args: ['cat'] }, { stdin: true });
  await g.start('cat');
  const out = g.readAll('cat', 'stdout');
  await g.writeStdin('cat', Buffer.from('abc'));
  await g.closeStdin('cat');
  assert.equal((await out).toString(), 'abc');
  assert.equal((await g.wait('cat')).exitStatus, 0);

  await g.create('sl', { args: ['sleep', '100'] });
  await g.start('sl');
  await assert.rejects(g.delete('sl'), (e) => codeOf(e) === Code.FAILED_PRECONDITION);
  await g.kill('sl', 9);
  assert.equal((await g.wait('sl')).exitStatus, 137);
  await g.delete('sl');

  await assert.rejects(g.state('nope'), (e) => codeOf(e) === Code.NOT_FOUND);
  await assert.rejects(g.create('cat', { args: ['true'] }), (e) => codeOf(e) === Code.ALREADY_EXISTS);
  await assert.rejects(g.create('empty', { args: [] }), (e) => codeOf(e) === Code.INVALID_ARGUMENT);
  await g.delete('cat');
  g.vmExited('done');
});

test('a lost VM answers pending waits with 255; shutdown reaches the agent', async () => {
  const g = await connect();
  await g.create('long', { args: ['sleep', '100'] });
  await g.start('long');
  const w = g.wait('long');
  g.vmExited('qemu died');
  assert.equal((await w).exitStatus, VM_DIED_EXIT);
  const g2 = await connect();
  await g2.kill('long', 9);
  await g2.shutdown();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(shutdowns, 1);
  g2.vmExited('done');
});
