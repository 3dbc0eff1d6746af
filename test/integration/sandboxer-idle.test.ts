// An idle tsula-sandboxer (started, recovered, no client yet) has loaded no protobuf, no
// generated descriptor, no grpc-js and no VM code: they load with the first use. Which
// modules a process loaded is read from a module resolve hook (node's module.register)
// that appends every resolved URL to a file; the bundle's source maps say what each holds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, openSync, closeSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { ADMIN_SERVICE, type ListResponse } from '../../src/sandboxer/admin.js';
import { Controller } from '../../src/gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import { errorKind } from '../../src/common/errors.js';
import { DAEMON_V8_FLAGS, daemonEnv } from '../../src/common/v8-flags.js';
import { SANDBOXER, sandboxerEnv, shortTempDir, killSandboxerLeftovers } from '../helpers/containerd.js';
import { sleep } from '../helpers/daemon.js';

/** What must not be loaded before its first use, by the source paths in the bundle's maps. */
const FIRST_USE = [
  { what: 'protobuf runtime', re: /node_modules\/@bufbuild\/protobuf\// },
  { what: 'generated descriptors', re: /\/src\/gen\// },
  { what: 'grpc-js', re: /node_modules\/@grpc\// },
  { what: 'the ttrpc server', re: /\/src\/ttrpc\/server\.ts$/ },
  { what: 'the VM kind', re: /\/src\/sandboxer\/kinds\/vmm\/index\.ts$/ },
  // (paths.ts: the default vmm.toml's path, which the sandboxer reads at its start as text)
  { what: 'the hypervisor layer', re: /\/src\/hypervisor\/(?!paths\.ts$)/ },
];

let dir = '';
let proc: ChildProcess | null = null;

after(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  if (dir) {
    await killSandboxerLeftovers(dir);
    await fs.rm(dir, { recursive: true, force: true });
  }
});

/** The sources of every bundle file the process resolved so far. */
async function loadedSources(log: string): Promise<{ files: string[]; sources: string[] }> {
  const urls = (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter((u) => u.startsWith('file:'));
  const files = [...new Set(urls.map((u) => fileURLToPath(u)))];
  const sources: string[] = [];
  for (const f of files) {
    const map = await fs.readFile(`${f}.map`, 'utf8').catch(() => null);
    if (map) sources.push(...(JSON.parse(map) as { sources: string[] }).sources.map((s) => path.resolve(path.dirname(f), s)));
  }
  return { files, sources };
}

test('idle: no protobuf, descriptors, grpc-js or VM code loaded; the task socket\'s first client loads its server, and serves the Controller without grpc-js', async () => {
  dir = await shortTempDir('tsidle-');
  const state = path.join(dir, 'sb');
  const log = path.join(dir, 'resolved.txt');
  // the hook runs on node's loader thread: it may only append to the file
  await fs.writeFile(path.join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`);
  await fs.writeFile(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`);
  const out = openSync(path.join(dir, 'sandboxer.log'), 'a');
  proc = spawn(process.execPath, [...DAEMON_V8_FLAGS, '--import', pathToFileURL(path.join(dir, 'register.mjs')).href, SANDBOXER,
    '--state', state, '--listen', path.join(dir, 'sb.sock'), '--log-level', 'debug'], { stdio: ['ignore', out, out], env: daemonEnv('tsula-sandboxer', sandboxerEnv(dir)) });
  closeSync(out);
  // ready: both sockets listen (nothing connects to them: a connection is a first use)
  for (let i = 0; i < 400 && !existsSync(path.join(state, 'sandboxer.ready')); i++) {
    assert.equal(proc.exitCode, null, `the sandboxer exited: ${await fs.readFile(path.join(dir, 'sandboxer.log'), 'utf8')}`);
    await sleep(25);
  }
  assert.ok(existsSync(path.join(state, 'sandboxer.ready')), 'the sandboxer did not come up');
  await sleep(1500); // a poll of the sandboxes (each second) and any late work

  const idle = await loadedSources(log);
  assert.ok(idle.files.some((f) => f.endsWith('tsula-sandboxer.mjs')), `the resolve hook saw no bundle: ${idle.files.join(' ')}`);
  assert.ok(idle.sources.some((s) => s.endsWith('/src/sandboxer/daemon.ts')), 'the bundle\'s source maps name no sources');
  for (const { what, re } of FIRST_USE) {
    assert.deepEqual(idle.sources.filter((s) => re.test(s)), [], `${what} loaded by an idle sandboxer`);
  }

  // the first client of the task socket: the ttrpc server and protobuf load, and it answers
  const c = await TtrpcClient.connect(`unix://${path.join(state, 'task.sock')}`, { timeoutMs: 5000 });
  try {
    const res = JSON.parse(Buffer.from(await c.callRaw(ADMIN_SERVICE, 'List', Buffer.from('{}'), { timeoutMs: 10_000 })).toString('utf8')) as ListResponse;
    assert.deepEqual(res.sandboxes, []);
  } finally {
    c.close();
  }
  // tsulad's calls to the Controller, on the task socket over ttrpc: no grpc-js for them
  const t = await TtrpcClient.connect(`unix://${path.join(state, 'task.sock')}`, { timeoutMs: 5000 });
  try {
    const ctl = t.service(Controller);
    assert.equal((await ctl.create({ sandboxId: 'p1', sandboxer: 'runc' }, { timeoutMs: 10_000 })).sandboxId, 'p1');
    assert.equal((await ctl.status({ sandboxId: 'p1' }, { timeoutMs: 10_000 })).sandboxId, 'p1');
    await assert.rejects(ctl.create({ sandboxId: 'p1', sandboxer: 'runc' }), (e) => errorKind(e) === 'AlreadyExists');
    await assert.rejects(ctl.status({ sandboxId: 'nope' }), (e) => errorKind(e) === 'NotFound');
    await ctl.shutdown({ sandboxId: 'p1' }, { timeoutMs: 10_000 });
    await assert.rejects(ctl.status({ sandboxId: 'p1' }), (e) => errorKind(e) === 'NotFound');
  } finally {
    t.close();
  }
  const used = await loadedSources(log);
  assert.deepEqual(used.sources.filter((s) => FIRST_USE[2].re.test(s)), [], 'the Controller over ttrpc loaded grpc-js');
  assert.ok(used.sources.some((s) => FIRST_USE[0].re.test(s)), 'protobuf did not load with the task socket\'s first client');
  assert.ok(used.sources.some((s) => FIRST_USE[3].re.test(s)), 'the ttrpc server did not load with the task socket\'s first client');
  assert.deepEqual(used.sources.filter((s) => FIRST_USE[5].re.test(s)), [], 'a runc-only sandboxer loaded the hypervisor layer');
});
