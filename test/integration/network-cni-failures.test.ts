// Pod networks that fail, on the real plugins: a plugin that reports an error, one that
// hangs, one that is missing, a malformed conflist, and a daemon killed with -9 in the
// middle of an ADD (its plugins running on after it). Each time the pod fails cleanly and nothing is left: no veth on the
// bridge, no IPAM lease, no iptables rule, no netns file, no cache entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { defaultConfList, CniPluginError } from '../../src/network/index.js';
import { isKind } from '../../src/common/errors.js';
import { createTestNet, bridgePorts, leases, iptablesLines, PLUGINS, type TestNet } from '../helpers/network.js';

let tn: TestNet;
let bin: string;
const podId = () => `tf${randomBytes(8).toString('hex')}`;
const sleepers: number[] = [];

// fake plugins beside symlinks to the real ones (bridge finds host-local through CNI_PATH)
const FAILER = `#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
  ADD) echo '{"cniVersion":"1.0.0","code":7,"msg":"failer refuses","details":"as the test asked"}'; exit 1 ;;
  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' ;;
esac
`;
const HANGER = `#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
  ADD) echo $$ > "$(dirname "$0")/hanger.pid"; exec sleep 300 ;;
  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' ;;
esac
`;

// host-local whose ADD starts late: bridge has made the veth and waits for its address
const SLOW_IPAM = `#!/bin/sh
[ "$CNI_COMMAND" = ADD ] && { echo $$ > "$(dirname "$0")/slow.pid"; sleep 2; }
exec ${PLUGINS}/host-local
`;

before(async () => {
  tn = await createTestNet('fail');
  bin = path.join(tn.tmp, 'bin');
  await fs.mkdir(bin);
  for (const p of ['bridge', 'host-local', 'portmap']) await fs.symlink(path.join(PLUGINS, p), path.join(bin, p));
  await fs.writeFile(path.join(bin, 'failer'), FAILER, { mode: 0o755 });
  await fs.writeFile(path.join(bin, 'hanger'), HANGER, { mode: 0o755 });
});

after(async () => {
  for (const pid of sleepers) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  await tn?.destroy();
});

/** A conf dir whose network is the test network with `extra` plugins inserted after bridge. */
async function confWith(label: string, extra: string[]): Promise<string> {
  const dir = path.join(tn.tmp, `conf-${label}`);
  await fs.mkdir(dir);
  const list = defaultConfList({ name: tn.name, bridge: tn.bridge, subnet: tn.subnet, gateway: tn.gateway, dataDir: tn.dataDir });
  const [bridge, portmap] = list.plugins as unknown[];
  list.plugins = [bridge, ...extra.map((type) => ({ type })), portmap];
  await fs.writeFile(path.join(dir, '10-test.conflist'), JSON.stringify(list));
  return dir;
}

/** Nothing of pod `id` (or any pod) is left on the host or in the dirs. */
async function assertNothingLeft(id: string): Promise<void> {
  assert.deepEqual(bridgePorts(tn.bridge), [], 'veths on the bridge');
  assert.deepEqual(await leases(tn), [], 'IPAM leases');
  assert.deepEqual(iptablesLines(id), [], 'iptables rules');
  assert.deepEqual(await fs.readdir(tn.netnsDir).catch(() => []), [], 'netns files');
  assert.deepEqual(await fs.readdir(path.join(tn.cacheDir, 'results')).catch(() => []), [], 'cache entries');
}

test('a plugin that fails: a clear error naming it; bridge and IPAM are rolled back', async () => {
  const { pods } = tn.open({ binDirs: [bin], confDir: await confWith('failer', ['failer']) });
  const id = podId();
  await assert.rejects(pods.setup({ id, namespace: 'default', name: 'f', uid: 'u', portMappings: [{ hostPort: 31999, containerPort: 80 }] }), (e: Error) => {
    assert.ok(e.cause instanceof CniPluginError || e instanceof CniPluginError, e.message);
    assert.equal(e.message, `set up the network of pod ${id}: cni plugin "failer" (network "${tn.name}") failed (add): failer refuses: as the test asked (code 7)`);
    return true;
  });
  await assertNothingLeft(id);
});

test('a plugin that hangs is killed after the timeout, and the pod is rolled back', async () => {
  const { pods } = tn.open({ binDirs: [bin], confDir: await confWith('hanger', ['hanger']), timeoutMs: 2000 });
  const id = podId();
  await assert.rejects(pods.setup({ id, namespace: 'default', name: 'h', uid: 'u' }),
    (e: Error) => isKind(e, 'Unavailable') && /cni plugin "hanger" .* timed out after 2000 ms/.test(e.message));
  const pid = Number(readFileSync(path.join(bin, 'hanger.pid'), 'utf8'));
  const state = (() => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0]; } catch { return 'gone'; } })();
  assert.ok(state === 'gone' || state === 'Z', `the hung plugin was killed (state ${state})`);
  await assertNothingLeft(id);
});

test('a missing plugin binary: NotFound naming it; nothing left', async () => {
  const { pods } = tn.open({ binDirs: [bin], confDir: await confWith('missing', ['no-such-plugin']) });
  const id = podId();
  await assert.rejects(pods.setup({ id, namespace: 'default', name: 'm', uid: 'u' }),
    (e: Error) => isKind(e, 'NotFound') && e.message.includes(`cni plugin "no-such-plugin" not found in ${bin}`));
  await assertNothingLeft(id);
});

test('a malformed conflist: the error names the file; no netns is made', async () => {
  const dir = path.join(tn.tmp, 'conf-bad');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, '10-bad.conflist'), '{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge"},]}');
  const { pods } = tn.open({ confDir: dir });
  await assert.rejects(pods.setup({ id: podId(), namespace: 'default', name: 'b', uid: 'u' }),
    (e: Error) => isKind(e, 'InvalidArgument') && e.message.startsWith(`cni config ${path.join(dir, '10-bad.conflist')}: invalid JSON`));
  await assertNothingLeft('none');
});

test('tsulad killed with -9 in the middle of an ADD: a restarted one releases the half-made pod', async () => {
  const confDir = await confWith('crash', ['hanger']);
  await fs.rm(path.join(bin, 'hanger.pid'), { force: true });
  const id = podId();
  const index = new URL('../../src/network/index.js', import.meta.url).href;
  const script = `
    import { CniClient, NetnsManager, PodNetwork, loadNetworkConfig } from ${JSON.stringify(index)};
    const cni = new CniClient({ binDirs: [${JSON.stringify(bin)}], cacheDir: ${JSON.stringify(tn.cacheDir)} });
    const netns = new NetnsManager({ dir: ${JSON.stringify(tn.netnsDir)} });
    const pods = new PodNetwork({ cni, netns, config: () => loadNetworkConfig(${JSON.stringify(confDir)}) });
    await pods.setup({ id: ${JSON.stringify(id)}, namespace: 'default', name: 'crash', uid: 'u' });`;
  const daemon = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  // the bridge plugin is done (a veth and a lease exist) once the hanger runs
  const marker = path.join(bin, 'hanger.pid');
  for (let i = 0; i < 300 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(marker), 'the ADD reached the plugin after bridge');
  sleepers.push(Number(readFileSync(marker, 'utf8')));
  daemon.kill('SIGKILL');
  await new Promise((r) => daemon.once('exit', r));
  assert.equal(bridgePorts(tn.bridge).length, 1);
  assert.equal((await leases(tn)).length, 1);
  assert.ok(iptablesLines(id).length > 0, 'the masquerade rules bridge made');
  // the restarted daemon knows no live pod
  // (the hanger never ends: recovery waits for it briefly, then kills it)
  const r = await tn.open({ binDirs: [bin], confDir, orphanWaitMs: 200 }).pods.recover([]);
  assert.deepEqual(r, { released: [id], failed: [] });
  await assertNothingLeft(id);
});

test('tsulad killed with -9 while bridge waits for its IPAM: a restarted one waits for the plugins left running, then releases all', async () => {
  const slow = path.join(tn.tmp, 'bin-slow');
  await fs.mkdir(slow);
  for (const p of ['bridge', 'portmap']) await fs.symlink(path.join(PLUGINS, p), path.join(slow, p));
  await fs.writeFile(path.join(slow, 'host-local'), SLOW_IPAM, { mode: 0o755 });
  const id = podId();
  const index = new URL('../../src/network/index.js', import.meta.url).href;
  const script = `
    import { CniClient, NetnsManager, PodNetwork, loadNetworkConfig } from ${JSON.stringify(index)};
    const cni = new CniClient({ binDirs: [${JSON.stringify(slow)}], cacheDir: ${JSON.stringify(tn.cacheDir)} });
    const netns = new NetnsManager({ dir: ${JSON.stringify(tn.netnsDir)} });
    const pods = new PodNetwork({ cni, netns, config: () => loadNetworkConfig(${JSON.stringify(tn.confDir)}) });
    await pods.setup({ id: ${JSON.stringify(id)}, namespace: 'default', name: 'slow', uid: 'u' });`;
  const daemon = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  const marker = path.join(slow, 'slow.pid');
  for (let i = 0; i < 300 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(marker), 'bridge called host-local');
  daemon.kill('SIGKILL');
  await new Promise((r) => daemon.once('exit', r));
  // bridge and host-local run on: the CNI spec forbids a DEL beside the ADD of the same
  // container (what the ADD does after the DEL would stay), so recovery waits for them first
  const pid = Number(readFileSync(marker, 'utf8'));
  assert.ok(existsSync(`/proc/${pid}`), 'the IPAM plugin runs on');
  const r = await tn.open({ binDirs: [slow] }).pods.recover([]);
  assert.equal(existsSync(`/proc/${pid}`), false, 'recovery waited for the plugins left running');
  assert.deepEqual(r, { released: [id], failed: [] });
  await assertNothingLeft(id);
});
