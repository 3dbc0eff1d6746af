// CNI network configuration: parsing and validation (errors name the file and the key),
// the CRI plugins' choice of the first file, what each plugin reads on stdin, and the
// default conflist install.sh writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync, mkdtempSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseConfList, parseConf, loadNetworkConfig, configFiles, compareVersions, pluginConfig, podArgs,
  defaultConfList, defaultConfListText, DEFAULT_NETWORK,
} from '../../src/network/index.js';
import { isKind } from '../../src/common/errors.js';
import { fileURLToPath } from 'node:url';

// the repository root, from dist/test/unit/ or test/unit/
const REPO = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'scripts', 'cni'))) {
    if (path.dirname(dir) === dir) throw new Error('cannot find the repository root');
    dir = path.dirname(dir);
  }
  return dir;
})();

const LIST = JSON.stringify({
  cniVersion: '1.0.0', name: 'net1', disableCheck: 'true',
  plugins: [
    { type: 'bridge', bridge: 'br9', ipam: { type: 'host-local', subnet: '10.9.0.0/16' } },
    { type: 'portmap', capabilities: { portMappings: true, bandwidth: false }, snat: true },
  ],
});

function rejects(text: string, file: string, pattern: RegExp, conf = false): void {
  assert.throws(() => (conf ? parseConf(text, file) : parseConfList(text, file)), (e: Error) => {
    assert.ok(isKind(e, 'InvalidArgument'), `kind of ${e.message}`);
    assert.ok(e.message.includes(file), `names the file: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a conflist is read with its plugins, declared capabilities and flags', () => {
  const l = parseConfList(LIST, '/x/10-net1.conflist');
  assert.equal(l.name, 'net1');
  assert.equal(l.cniVersion, '1.0.0');
  assert.equal(l.disableCheck, true); // libcni also takes the string
  assert.deepEqual(l.plugins.map((p) => p.type), ['bridge', 'portmap']);
  assert.deepEqual(l.plugins[1]!.capabilities, ['portMappings']);
  assert.equal(l.bytes, LIST);
  assert.equal(l.source, '/x/10-net1.conflist');
});

test('a .conf is wrapped into a list of one, as libcni does', () => {
  const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge', bridge: 'brs' });
  const l = parseConf(conf, '/x/99-single.conf');
  assert.equal(l.name, 'single');
  assert.equal(l.cniVersion, '0.4.0');
  assert.deepEqual(l.plugins.map((p) => p.type), ['bridge']);
  assert.deepEqual(JSON.parse(l.bytes), { cniVersion: '0.4.0', name: 'single', plugins: [JSON.parse(conf)] });
  // and the wrapped list reads back as the same network
  assert.deepEqual(parseConfList(l.bytes, 'cache').plugins[0]!.raw, JSON.parse(conf));
});

test('malformed configs: the error names the file and the key', () => {
  const f = '/etc/cni/net.d/10-bad.conflist';
  rejects('{"cniVersion": "1.0.0", "name": "x", plugins: []}', f, /invalid JSON/);
  rejects('[1,2]', f, /must be a JSON object, not a list/);
  rejects('{"cniVersion": "1.0.0", "plugins": [{"type": "bridge"}]}', f, /name: missing/);
  rejects('{"cniVersion": "1.0.0", "name": 7, "plugins": [{"type": "bridge"}]}', f, /name: must be a string, not a number/);
  rejects('{"cniVersion": "1.0.0", "name": "a/b", "plugins": [{"type": "bridge"}]}', f, /name: "a\/b" may hold only/);
  rejects('{"name": "x", "plugins": [{"type": "bridge"}]}', f, /cniVersion: missing/);
  rejects('{"cniVersion": "9.9.9", "name": "x", "plugins": [{"type": "bridge"}]}', f, /cniVersion: "9.9.9" is not supported/);
  rejects('{"cniVersion": "1.0.0", "name": "x"}', f, /plugins: missing/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": {}}', f, /plugins: must be a list, not an object/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": []}', f, /plugins: the list is empty/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge"}, {"ipam": {}}]}', f, /plugins\[1\]\.type: missing/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "../../bin/sh"}]}', f, /plugins\[0\]\.type: "\.\.\/\.\.\/bin\/sh" is not a plugin name/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": ["bridge"]}', f, /plugins\[0\]: must be an object, not a string/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "portmap", "capabilities": {"portMappings": "yes"}}]}', f,
    /plugins\[0\]\.capabilities\.portMappings: must be true or false/);
  rejects('{"cniVersion": "1.0.0", "name": "x", "disableCheck": 3, "plugins": [{"type": "bridge"}]}', f, /disableCheck: must be true or false/);
  const c = '/etc/cni/net.d/10-list.conf';
  rejects('{"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "bridge"}]}', c, /type: missing \(this looks like a conflist/, true);
  rejects('{"cniVersion": "1.0.0", "name": "x"}', c, /type: missing/, true);
});

test('the conf dir: the first .conf/.conflist/.json in byte order is the pod network', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsula-cni-conf-'));
  try {
    await assert.rejects(loadNetworkConfig(dir), (e: Error) => isKind(e, 'FailedPrecondition') && e.message.includes(`no network config found in ${dir}`));
    await assert.rejects(loadNetworkConfig(path.join(dir, 'missing')), (e: Error) => isKind(e, 'FailedPrecondition'));
    const list = (name: string) => JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }] });
    await fs.writeFile(path.join(dir, '20-b.conflist'), list('b'));
    await fs.writeFile(path.join(dir, '30-c.json'), JSON.stringify({ cniVersion: '1.0.0', name: 'c', type: 'ptp' }));
    await fs.writeFile(path.join(dir, '00-notes.txt'), 'ignored');
    await fs.writeFile(path.join(dir, '05-old.conf.bak'), 'ignored');
    await fs.mkdir(path.join(dir, '01-dir.conf')); // a directory, even with the extension, is not a config
    assert.deepEqual((await configFiles(dir)).map((f) => path.basename(f)), ['20-b.conflist', '30-c.json']);
    assert.equal((await loadNetworkConfig(dir)).name, 'b');
    await fs.writeFile(path.join(dir, '10-a.conf'), JSON.stringify({ cniVersion: '0.3.1', name: 'a', type: 'bridge' }));
    assert.equal((await loadNetworkConfig(dir)).name, 'a');
    // 'Z' sorts before 'a' in byte order, as Go's sort.Strings has it
    await fs.writeFile(path.join(dir, '10-Z.conflist'), '{"cniVersion": "1.0.0", "name": "z", "plugins": [{"bridge": "x"}]}');
    await assert.rejects(loadNetworkConfig(dir), (e: Error) => isKind(e, 'InvalidArgument')
      && e.message.includes(path.join(dir, '10-Z.conflist')) && /plugins\[0\]\.type: missing/.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("a plugin's stdin: the list's name and version, prevResult, and only the capabilities it declares", () => {
  const l = parseConfList(LIST, 'x');
  const prev = { cniVersion: '1.0.0', ips: [{ address: '10.9.0.2/16' }] };
  const caps = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' as const }], bandwidth: { ingressRate: 1 } };
  const pm = pluginConfig(l, l.plugins[1]!, prev, caps);
  assert.deepEqual(pm, {
    type: 'portmap', capabilities: { portMappings: true, bandwidth: false }, snat: true, name: 'net1', cniVersion: '1.0.0',
    prevResult: prev, runtimeConfig: { portMappings: caps.portMappings },
  });
  // bridge declares no capability: no runtimeConfig, no prevResult for the first plugin
  const br = pluginConfig(l, l.plugins[0]!, undefined, caps);
  assert.equal(br.runtimeConfig, undefined);
  assert.equal(br.prevResult, undefined);
  // a plugin's own name/cniVersion are overridden by the list's
  const odd = parseConfList(JSON.stringify({ cniVersion: '0.4.0', name: 'outer', plugins: [{ type: 'x', name: 'inner', cniVersion: '0.3.1' }] }), 'y');
  assert.deepEqual(pluginConfig(odd, odd.plugins[0]!), { type: 'x', name: 'outer', cniVersion: '0.4.0' });
});

test('CNI_ARGS of a pod, and version order', () => {
  assert.deepEqual(podArgs({ namespace: 'default', name: 'web', uid: 'u-1', infraContainerId: 'abc' }), [
    ['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', 'default'], ['K8S_POD_NAME', 'web'], ['K8S_POD_INFRA_CONTAINER_ID', 'abc'], ['K8S_POD_UID', 'u-1'],
  ]);
  assert.equal(compareVersions('0.4.0', '1.0.0'), -1);
  assert.equal(compareVersions('0.3.1', '0.3.0'), 1);
  assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
});

test('the default conflist: bridge tsula0 + host-local 172.19.0.0/16 + portmap, and the shipped file is its output', () => {
  const l = parseConfList(defaultConfListText(), 'default');
  assert.equal(l.name, DEFAULT_NETWORK.name);
  assert.deepEqual(l.plugins.map((p) => p.type), ['bridge', 'portmap']);
  const br = l.plugins[0]!.raw as Record<string, unknown>;
  assert.equal(br.bridge, 'tsula0');
  assert.equal(br.isGateway, true);
  assert.equal(br.ipMasq, true);
  assert.equal(br.hairpinMode, true);
  assert.deepEqual((br.ipam as { ranges: unknown }).ranges, [[{ subnet: '172.19.0.0/16', gateway: '172.19.0.1' }]]);
  assert.equal((br.ipam as { dataDir?: string }).dataDir, undefined); // the plugin's default
  assert.deepEqual(l.plugins[1]!.capabilities, ['portMappings']);
  assert.equal((l.plugins[1]!.raw as { snat?: boolean }).snat, true);
  const custom = defaultConfList({ name: 't', bridge: 'tbr', subnet: '10.1.2.0/24', gateway: '10.1.2.1', dataDir: '/tmp/x' });
  assert.equal(((custom.plugins as { ipam?: { dataDir?: string } }[])[0]!.ipam)!.dataDir, '/tmp/x');
  assert.equal(readFileSync(path.join(REPO, 'scripts', 'cni', DEFAULT_NETWORK.file), 'utf8'), defaultConfListText());
});
