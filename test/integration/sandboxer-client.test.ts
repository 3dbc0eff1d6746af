// tsulad's side of a sandboxer (SandboxerRuntime, the Runtime behind cri-sandboxers):
// sandbox per container through the Controller, tasks through the Task API, output into
// the engine's k8s-file log, exits from Wait, exec, and cleanup of the sandbox on delete.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SandboxerRuntime } from '../../src/sandboxer/client.js';
import { TestSandboxer } from '../helpers/sandboxer.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import type { Spec } from '../../src/oci/types.js';

requirePrerequisites('sandboxer-client', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/bin/busybox': 'busybox-static' } });

let s: TestSandboxer;
let rt: SandboxerRuntime;
const exits = new Map<string, number>();
const waiters = new Map<string, (c: number) => void>();

before(async () => {
  s = await TestSandboxer.create();
  rt = new SandboxerRuntime({ name: 'io.containerd.tsula.v1', address: s.address, sandboxer: 'runc', stateDir: path.join(s.dir, 'engine') });
  await rt.watchExits((id, code) => { exits.set(id, code); waiters.get(id)?.(code); });
});

after(async () => {
  rt?.close();
  if (s) await s.destroy();
});

function exitOf(id: string, ms = 15_000): Promise<number> {
  if (exits.has(id)) return Promise.resolve(exits.get(id)!);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no exit for ${id}`)), ms);
    waiters.set(id, (c) => { clearTimeout(t); resolve(c); });
  });
}

async function container(args: string[]) {
  const id = randomBytes(32).toString('hex');
  const bundle = await s.bundle(id.slice(0, 12), args);
  const spec = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8')) as Spec;
  const logPath = path.join(bundle, 'ctr.log');
  return { id, bundle, spec, logPath };
}

test('a container in its own sandbox: log, exit code, delete removes the sandbox', async () => {
  const c = await container(['sh', '-c', 'echo out; echo err >&2; exit 6']);
  const pid = await rt.create({ id: c.id, bundle: c.bundle, spec: c.spec, logPath: c.logPath, terminal: false, stdin: false, stdinOnce: false });
  assert.ok(pid > 0);
  await rt.start(c.id);
  assert.equal(await exitOf(c.id), 6);
  const log = await fs.readFile(c.logPath, 'utf8');
  assert.match(log, / stdout F out\n/);
  assert.match(log, / stderr F err\n/);
  assert.equal((await rt.state(c.id))?.status, 'stopped');
  await rt.delete(c.id, c.bundle, false);
  assert.equal(await rt.state(c.id), null);
  assert.deepEqual(await fs.readdir(path.join(s.state, 'sandboxes')), []);
});

test('exec with attached output, then force delete of a running container', async () => {
  const c = await container(['sleep', '1000']);
  await rt.create({ id: c.id, bundle: c.bundle, spec: c.spec, logPath: c.logPath, terminal: false, stdin: false, stdinOnce: false });
  await rt.start(c.id);
  const dir = path.join(s.dir, 'exec1');
  const h = await rt.exec({
    containerId: c.id, execId: 'e1', dir, attach: true, stdin: false,
    process: { ...c.spec.process, args: ['sh', '-c', 'echo in-exec; exit 2'], terminal: false },
  });
  let out = '';
  h.stdio!.onOutput((_s, d) => { out += d.toString(); });
  assert.equal(await h.exited, 2);
  assert.equal(out, 'in-exec\n');
  assert.equal((await rt.state(c.id))?.status, 'running');
  await rt.delete(c.id, c.bundle, true);
  assert.equal(await exitOf(c.id), 137);
  assert.deepEqual(await fs.readdir(path.join(s.state, 'tasks')), []);
});
