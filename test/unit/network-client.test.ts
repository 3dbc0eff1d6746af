// The CNI client against fake plugins (sh scripts that record how they were called): the
// exact environment and stdin of each call, prevResult chaining, DEL in reverse from the
// cache (also from a new client), rollback of a failed ADD, plugin errors, timeouts that kill
// the plugin's process group, CHECK, VERSION, GC. The real plugins: integration/network-cni.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync, existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CniClient, CniPluginError, parseConfList, type NetworkConfigList, type RuntimeConf } from '../../src/network/index.js';
import { isKind } from '../../src/common/errors.js';
import { procStat } from '../../src/common/proc.js';

let tmp: string;
let bin: string;
let cacheDir: string;

const FAKE = `#!/bin/sh
d=$(dirname "$0"); n=$(basename "$0")
in=$(cat)
echo "$CNI_COMMAND $n" >> "$d/calls.log"
printf '%s' "$in" > "$d/stdin.$n.$CNI_COMMAND"
env | grep '^CNI_' | sort > "$d/env.$n.$CNI_COMMAND"
ls "$d/../cache/results" > "$d/cache.$n.$CNI_COMMAND" 2>/dev/null
if [ -f "$d/hang.$n.$CNI_COMMAND" ]; then sleep 300 & echo $! > "$d/sleeper.$n"; wait; fi
if [ -f "$d/slow.$n.$CNI_COMMAND" ]; then sleep 1; fi
if [ -f "$d/fail.$n.$CNI_COMMAND" ]; then cat "$d/fail.$n.$CNI_COMMAND"; echo "stderr of $n" >&2; exit 1; fi
case "$CNI_COMMAND" in
  ADD) cat "$d/result.$n" ;;
  VERSION) if [ -f "$d/version.$n" ]; then cat "$d/version.$n"; else echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}'; fi ;;
esac
`;

const resultOf = (ip: string) => ({
  cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/ns' }],
  ips: [{ interface: 0, address: ip, gateway: '10.5.0.1' }], routes: [{ dst: '0.0.0.0/0' }], dns: {},
});

async function reset(): Promise<void> {
  for (const f of await fs.readdir(bin)) if (!['a', 'b', 'c'].includes(f)) await fs.rm(path.join(bin, f), { force: true });
  await fs.rm(cacheDir, { recursive: true, force: true });
  await fs.writeFile(path.join(bin, 'result.a'), JSON.stringify(resultOf('10.5.0.2/16')));
  await fs.writeFile(path.join(bin, 'result.b'), JSON.stringify(resultOf('10.5.0.3/16')));
  await fs.writeFile(path.join(bin, 'result.c'), JSON.stringify(resultOf('10.5.0.4/16')));
}
const calls = () => { try { return readFileSync(path.join(bin, 'calls.log'), 'utf8').trim().split('\n').filter(Boolean); } catch { return []; } };
const stdinOf = (n: string, cmd: string) => JSON.parse(readFileSync(path.join(bin, `stdin.${n}.${cmd}`), 'utf8')) as Record<string, unknown>;
const envOf = (n: string, cmd: string) => readFileSync(path.join(bin, `env.${n}.${cmd}`), 'utf8').trim().split('\n');

function list(version = '1.0.0', types = ['a', 'b', 'c']): NetworkConfigList {
  return parseConfList(JSON.stringify({
    cniVersion: version, name: 'fakenet',
    plugins: types.map((t) => ({ type: t, ...(t === 'b' ? { capabilities: { portMappings: true } } : {}) })),
  }), 'fake.conflist');
}
const RT: RuntimeConf = {
  containerId: 'c0ffee', netns: '/run/netns/fake', ifName: 'eth0',
  args: [['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', 'ns1'], ['K8S_POD_NAME', 'p1']],
  capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
};

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tsula-cni-client-'));
  bin = path.join(tmp, 'bin');
  cacheDir = path.join(tmp, 'cache');
  await fs.mkdir(bin);
  for (const n of ['a', 'b', 'c']) await fs.writeFile(path.join(bin, n), FAKE, { mode: 0o755 });
});

after(async () => {
  // a sleeper a failed test left behind
  for (const f of await fs.readdir(bin).catch(() => [])) {
    if (f.startsWith('sleeper.')) { try { process.kill(Number(readFileSync(path.join(bin, f), 'utf8')), 'SIGKILL'); } catch { /* gone */ } }
  }
  await fs.rm(tmp, { recursive: true, force: true });
});

test('ADD runs the list in order with the exact env, prevResult and runtimeConfig; the result is cached as libcni does', async () => {
  await reset();
  process.env.CNI_STRAY = 'from-our-env'; // must not reach the plugins
  const cni = new CniClient({ binDirs: ['/nonexistent', bin], cacheDir, timeoutMs: 10_000 });
  try {
    const r = await cni.add(list(), RT);
    assert.deepEqual(r.ips, [{ family: 4, address: '10.5.0.4/16', gateway: '10.5.0.1', interface: 0 }]);
  } finally {
    delete process.env.CNI_STRAY;
  }
  assert.deepEqual(calls(), ['ADD a', 'ADD b', 'ADD c']);
  assert.deepEqual(envOf('b', 'ADD'), [
    'CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1', 'CNI_COMMAND=ADD', 'CNI_CONTAINERID=c0ffee',
    'CNI_IFNAME=eth0', 'CNI_NETNS=/run/netns/fake', `CNI_PATH=/nonexistent:${bin}`,
  ]);
  assert.deepEqual(stdinOf('a', 'ADD'), { type: 'a', name: 'fakenet', cniVersion: '1.0.0' });
  assert.deepEqual(stdinOf('b', 'ADD'), {
    type: 'b', capabilities: { portMappings: true }, name: 'fakenet', cniVersion: '1.0.0',
    prevResult: resultOf('10.5.0.2/16'), runtimeConfig: { portMappings: RT.capabilityArgs!.portMappings },
  });
  assert.deepEqual(stdinOf('c', 'ADD').prevResult, resultOf('10.5.0.3/16'));
  // the cache entry exists while the plugins run (a crash mid-ADD leaves a record for DEL)
  assert.equal(readFileSync(path.join(bin, 'cache.a.ADD'), 'utf8').trim(), 'fakenet-c0ffee-eth0');
  const cached = JSON.parse(readFileSync(path.join(cacheDir, 'results', 'fakenet-c0ffee-eth0'), 'utf8')) as Record<string, unknown>;
  assert.equal(cached.kind, 'cniCacheV1');
  assert.equal(cached.containerId, 'c0ffee');
  assert.equal(cached.networkName, 'fakenet');
  assert.equal(cached.ifName, 'eth0');
  assert.equal(cached.netns, '/run/netns/fake');
  assert.deepEqual(cached.cniArgs, RT.args);
  assert.deepEqual(cached.capabilityArgs, RT.capabilityArgs);
  assert.equal(Buffer.from(cached.config as string, 'base64').toString(), list().bytes); // Go's []byte in JSON
  assert.deepEqual(cached.result, resultOf('10.5.0.4/16'));
  assert.equal((await cni.cachedResult('fakenet', 'c0ffee', 'eth0'))?.ips[0]?.address, '10.5.0.4/16');
});

test('DEL runs in reverse with the cached result, from a new client too, and reuses the cached args', async () => {
  await reset();
  await new CniClient({ binDirs: [bin], cacheDir }).add(list(), RT);
  await fs.rm(path.join(bin, 'calls.log'));
  // "the daemon crashed": a new client that knows only the container id, netns and ifname
  const fresh = new CniClient({ binDirs: [bin], cacheDir });
  await fresh.del(list(), { containerId: 'c0ffee', netns: '', ifName: 'eth0' });
  assert.deepEqual(calls(), ['DEL c', 'DEL b', 'DEL a']);
  for (const n of ['a', 'b', 'c']) assert.deepEqual(stdinOf(n, 'DEL').prevResult, resultOf('10.5.0.4/16'));
  assert.deepEqual(stdinOf('b', 'DEL').runtimeConfig, { portMappings: RT.capabilityArgs!.portMappings });
  assert.ok(envOf('a', 'DEL').includes('CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1'));
  assert.ok(envOf('a', 'DEL').includes('CNI_NETNS='));
  assert.equal(existsSync(path.join(cacheDir, 'results', 'fakenet-c0ffee-eth0')), false);
  // DEL again: nothing cached, the plugins still run (they must succeed for things gone)
  await fresh.del(list(), { containerId: 'c0ffee', netns: '', ifName: 'eth0' });
  assert.equal(stdinOf('a', 'DEL').prevResult, undefined);
});

test('before 0.4.0 DEL gets no prevResult, and CHECK is unimplemented', async () => {
  await reset();
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  await cni.add(list('0.3.1'), RT);
  await assert.rejects(cni.check(list('0.3.1'), RT), (e: Error) => isKind(e, 'Unimplemented') && /does not support the CHECK command/.test(e.message));
  await cni.del(list('0.3.1'), RT);
  assert.equal(stdinOf('a', 'DEL').prevResult, undefined);
});

test('a plugin error names the plugin and carries its msg, details and code; what ran is rolled back', async () => {
  await reset();
  await fs.writeFile(path.join(bin, 'fail.b.ADD'), JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'bad bridge', details: 'no such thing' }));
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  await assert.rejects(cni.add(list(), RT), (e: Error) => {
    assert.ok(e instanceof CniPluginError);
    assert.equal(e.cniCode, 7);
    assert.equal(e.message, 'cni plugin "b" (network "fakenet") failed (add): bad bridge: no such thing (code 7)');
    return true;
  });
  // rollback: DEL of what ran, in reverse (c never did), with a's result as prevResult
  assert.deepEqual(calls(), ['ADD a', 'ADD b', 'DEL b', 'DEL a']);
  assert.deepEqual(stdinOf('b', 'DEL').prevResult, resultOf('10.5.0.2/16'));
  assert.deepEqual(await cni.attachments(), []);
});

test('a failed rollback keeps the cache entry, so a later DEL or GC can finish the job', async () => {
  await reset();
  await fs.writeFile(path.join(bin, 'fail.c.ADD'), JSON.stringify({ code: 11, msg: 'busy' }));
  await fs.writeFile(path.join(bin, 'fail.a.DEL'), JSON.stringify({ code: 5, msg: 'cannot release' }));
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  await assert.rejects(cni.add(list(), RT), (e: Error) => isKind(e, 'Unavailable') // code 11: try again later
    && /failed \(add\): busy \(code 11\) \(and the rollback failed: cni plugin "a" .* cannot release \(code 5\)\)/.test(e.message));
  const left = await cni.attachments('c0ffee');
  assert.equal(left.length, 1);
  // the ADD never finished: the first plugin's result is kept for the DEL (its IPs name what
  // the later plugins' rules hold)
  assert.ok(left[0]!.result, 'the first plugin\'s result');
  await fs.rm(path.join(bin, 'fail.a.DEL'));
  const gc = await new CniClient({ binDirs: [bin], cacheDir }).gc([]);
  assert.deepEqual(gc, { released: ['c0ffee/eth0'], failed: [] });
  assert.deepEqual(await cni.attachments(), []);
});

test('a DEL error stops the DEL and keeps the cache entry', async () => {
  await reset();
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  await cni.add(list(), RT);
  await fs.writeFile(path.join(bin, 'fail.b.DEL'), 'not json at all');
  await fs.rm(path.join(bin, 'calls.log'));
  await assert.rejects(cni.del(list(), RT), (e: Error) => isKind(e, 'Internal')
    && e.message === 'cni plugin "b" (network "fakenet") failed (del): unparsable output "not json at all"; stderr of b (exit 1)');
  assert.deepEqual(calls(), ['DEL c', 'DEL b']);
  assert.equal((await cni.attachments('c0ffee')).length, 1);
  await fs.rm(path.join(bin, 'fail.b.DEL'));
  await cni.del(list(), RT);
  assert.deepEqual(await cni.attachments(), []);
});

test('a hung plugin is killed with its children after the timeout; an aborted call stops between plugins', async () => {
  await reset();
  await fs.writeFile(path.join(bin, 'hang.b.ADD'), '');
  const cni = new CniClient({ binDirs: [bin], cacheDir, timeoutMs: 1500 });
  const t0 = Date.now();
  await assert.rejects(cni.add(list(), RT), (e: Error) => isKind(e, 'Unavailable') && /cni plugin "b" .* failed \(add\): .* timed out after 1500 ms/.test(e.message));
  assert.ok(Date.now() - t0 < 8000);
  // the plugin's child was killed too (gone, or a zombie where pid 1 does not reap)
  const sleeper = Number(readFileSync(path.join(bin, 'sleeper.b'), 'utf8'));
  await new Promise((r) => setTimeout(r, 100));
  const st = await procStat(sleeper).catch(() => null);
  assert.ok(st === null || st.state === 'Z', `the plugin's child ${sleeper} still runs (${st?.state})`);
  assert.deepEqual(calls(), ['ADD a', 'ADD b', 'DEL b', 'DEL a']);
  assert.deepEqual(await cni.attachments(), []);

  // a call given up on while b runs: b finishes (a plugin killed half way leaves what its
  // DEL can't undo), c never starts, and the rollback DELs what ran
  await reset();
  await fs.rm(path.join(bin, 'calls.log'), { force: true });
  await fs.writeFile(path.join(bin, 'slow.b.ADD'), '');
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('the client went away')), 300);
  await assert.rejects(new CniClient({ binDirs: [bin], cacheDir }).add(list(), RT, ac.signal),
    (e: Error) => isKind(e, 'Unavailable') && /cni plugin "c" .*: not run: the request was cancelled/.test(e.message));
  assert.deepEqual(calls(), ['ADD a', 'ADD b', 'DEL b', 'DEL a']);
  assert.deepEqual(await cni.attachments(), []);
});

test('CHECK runs in order against the cached result; without one it is NotFound; disableCheck skips it', async () => {
  await reset();
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  await assert.rejects(cni.check(list(), RT), (e: Error) => isKind(e, 'NotFound'));
  await cni.add(list(), RT);
  await fs.rm(path.join(bin, 'calls.log'));
  await cni.check(list(), RT);
  assert.deepEqual(calls(), ['CHECK a', 'CHECK b', 'CHECK c']);
  assert.deepEqual(stdinOf('a', 'CHECK').prevResult, resultOf('10.5.0.4/16'));
  await fs.writeFile(path.join(bin, 'fail.c.CHECK'), JSON.stringify({ code: 3, msg: 'eth0 is gone' }));
  await assert.rejects(cni.check(list(), RT), /failed \(check\): eth0 is gone \(code 3\)/);
  const skip = parseConfList(JSON.stringify({ ...JSON.parse(list().bytes), disableCheck: true }), 'x');
  await cni.check(skip, RT);
  await cni.del(list(), RT);
});

test('VERSION probing and validation name the plugin that does not fit', async () => {
  await reset();
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  assert.deepEqual(await cni.version('a'), { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] });
  assert.ok(envOf('a', 'VERSION').includes('CNI_COMMAND=VERSION'));
  assert.deepEqual(stdinOf('a', 'VERSION'), { cniVersion: '1.0.0' });
  assert.deepEqual(await cni.validate(list()), ['portMappings']);
  await fs.writeFile(path.join(bin, 'version.c'), JSON.stringify({ cniVersion: '0.4.0', supportedVersions: ['0.3.1', '0.4.0'] }));
  await assert.rejects(cni.validate(list('1.0.0', ['a', 'c', 'nope'])), (e: Error) => isKind(e, 'FailedPrecondition')
    && e.message.includes('plugin "c" does not support config version "1.0.0" (it speaks 0.3.1, 0.4.0)')
    && e.message.includes(`cni plugin "nope" not found in ${bin}`));
  await assert.rejects(cni.add(list('1.0.0', ['a', 'nope']), RT), (e: Error) => isKind(e, 'NotFound')
    && e.message === `cni plugin "nope" (network "fakenet"): cni plugin "nope" not found in ${bin}`);
  assert.deepEqual(await cni.attachments(), []);
});

test('bad runtime input is refused before any plugin runs', async () => {
  await reset();
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  for (const rt of [{ ...RT, containerId: '../x' }, { ...RT, ifName: 'a-very-long-ifname' }, { ...RT, ifName: 'et h0' }, { ...RT, netns: '' }]) {
    await assert.rejects(cni.add(list(), rt), (e: Error) => isKind(e, 'InvalidArgument'));
  }
  assert.deepEqual(calls(), []);
});

test('GC releases cached attachments nobody claims, with the config they were added with', async () => {
  await reset();
  const cni = new CniClient({ binDirs: [bin], cacheDir });
  await cni.add(list(), { ...RT, containerId: 'keep1' });
  await cni.add(list('1.0.0', ['a', 'c']), { ...RT, containerId: 'stale1' });
  await cni.add(list(), { ...RT, containerId: 'keep2', ifName: 'net1' });
  await fs.rm(path.join(bin, 'calls.log'));
  const r = await cni.gc(['keep1', 'keep2/net1']);
  assert.deepEqual(r, { released: ['stale1/eth0'], failed: [] });
  assert.deepEqual(calls(), ['DEL c', 'DEL a']); // stale1's own list, not the current one
  assert.deepEqual((await cni.attachments()).map((a) => a.containerId).sort(), ['keep1', 'keep2']);
  assert.deepEqual((await cni.attachments('keep2')).map((a) => a.ifName), ['net1']);
});
