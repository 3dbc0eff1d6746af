// tsulad's CRI under kubelet's load and faults, over gRPC on a private CNI network: 40 pods
// (a few with hostPorts) run, get containers, stop and go all at once and leave nothing;
// lists, statuses and stats polled while pods are made and go never fail nor show a
// half-made object; kill -9 of tsulad with runs in flight leaves pods that are ready or
// removable, nothing else, and kubelet's retry with the same name works; runs whose client
// gives up leave nothing; the same name twice at once: one wins; a run whose clean-up
// fails leaves a NOTREADY pod to remove, not a leak.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as net2 from 'node:net';
import { execFileSync } from 'node:child_process';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { criClient } from '../helpers/cri-grpc.js';
import { conmons, runcList } from '../helpers/runtime-state.js';
import { findPidHolders } from '../../src/engine/pods/namespaces.js';
import { bridgePorts, createTestNet, leases, PLUGINS, type TestNet } from '../helpers/network.js';
import { PodSandboxState, ContainerState } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { errorMessage, isKind } from '../../src/common/errors.js';

let net: TestNet;
let d: TestDaemon;
let c: ReturnType<typeof criClient>;
/** CNI chains our pods' rules jumped to (seen while they ran): none may stay. */
const chains = new Set<string>();
/** Every pod id seen (a netns of one under /run/netns would be a leak too). */
const seen = new Set<string>();

// a plugin whose ADD fails and whose DEL fails while its marker file is there
const FLAKY = `#!/bin/sh
cat >/dev/null
case "$CNI_COMMAND" in
  ADD) echo '{"cniVersion":"1.0.0","code":7,"msg":"flaky refuses"}'; exit 1 ;;
  DEL) [ -f "$(dirname "$0")/del-fails" ] && { echo '{"cniVersion":"1.0.0","code":11,"msg":"flaky cannot delete yet"}'; exit 1; } ;;
  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}' ;;
esac
exit 0
`;

before(async () => {
  net = await createTestNet('ccon');
  await fs.mkdir(path.join(net.tmp, 'bin'));
  await fs.writeFile(path.join(net.tmp, 'bin', 'flaky'), FLAKY, { mode: 0o755 });
  d = await TestDaemon.create({ configJson: { 'cni-conf-dir': net.confDir, 'cni-bin-dir': `${path.join(net.tmp, 'bin')}:${PLUGINS}` } });
  await d.loadBusybox();
  c = criClient(d.criSock);
});
after(async () => {
  if (d?.proc) await removeAll().catch(() => {});
  c?.close();
  await d?.destroy();
  await net?.destroy();
});

// a failed test leaves no pod to the next one
afterEach(async () => {
  await fs.rm(path.join(net.tmp, 'bin', 'del-fails'), { force: true });
  if (d?.proc) await removeAll().catch(() => {});
});

/** Ports nothing listens on now, for hostPorts (nothing else here binds ports). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<net2.Server>((resolve, reject) => {
    const s = net2.createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as net2.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function podConfig(name: string, hostPort = 0, attempt = 0) {
  return {
    metadata: { name, namespace: 'ccon', uid: `uid-${name}`, attempt }, hostname: name,
    logDirectory: path.join(d.dir, 'logs', name), linux: {},
    ...(hostPort ? { portMappings: [{ protocol: 0, containerPort: 80, hostPort }] } : {}),
  };
}

async function runPod(name: string, hostPort = 0): Promise<string> {
  return (await c.runPodSandbox({ config: podConfig(name, hostPort) }, { timeoutMs: 120_000 })).podSandboxId;
}

async function runContainer(podId: string, name: string): Promise<string> {
  const { containerId } = await c.createContainer({
    podSandboxId: podId, sandboxConfig: podConfig(name),
    config: { metadata: { name: 'sleeper' }, image: { image: 'busybox' }, command: ['sleep', '1000'], logPath: 'sleeper.log', linux: {} },
  }, { timeoutMs: 120_000 });
  await c.startContainer({ containerId }, { timeoutMs: 120_000 });
  return containerId;
}

/** StopPodSandbox then RemovePodSandbox of every pod, all at once (kubelet's order). */
async function removeAll(): Promise<void> {
  const ids = (await c.listPodSandbox({})).items.map((p) => p.id);
  const r = await Promise.allSettled(ids.map(async (id) => {
    await c.stopPodSandbox({ podSandboxId: id }, { timeoutMs: 120_000 });
    await c.removePodSandbox({ podSandboxId: id }, { timeoutMs: 120_000 });
  }));
  const failed = r.flatMap((x) => (x.status === 'rejected' ? [errorMessage(x.reason)] : []));
  assert.deepEqual(failed, [], 'stop and remove of every pod');
}

/** Chains that our pods' rules (named by pod id or by the network's name) jump to, now. */
function noteChains(ids: string[]): void {
  for (const id of ids) seen.add(id);
  for (const l of execFileSync('iptables-save', { encoding: 'utf8' }).split('\n')) {
    if (!ids.some((id) => l.includes(id)) && !l.includes(net.name)) continue;
    for (const m of l.matchAll(/-j (CNI-(?!HOSTPORT-(?:DNAT|SETMARK|MASQ)\b)[A-Za-z0-9-]+)/g)) chains.add(m[1]!);
  }
}

/** Everything a pod can leave on the host or in tsulad's dirs; [] when nothing is left. */
async function leftovers(): Promise<string[]> {
  const out: string[] = [];
  const ls = async (dir: string) => (await fs.readdir(dir).catch(() => [] as string[]));
  for (const f of await ls(path.join(d.state, 'netns'))) out.push(`netns ${f}`);
  for (const f of await ls(path.join(d.state, 'pods'))) out.push(`pod dir ${f}`);
  for (const f of await ls(path.join(d.graph, 'pods'))) out.push(`pod record ${f}`);
  for (const f of await ls(path.join(d.graph, 'cni', 'results', 'results'))) out.push(`CNI result ${f}`);
  for (const f of await ls('/run/netns')) if (seen.has(f)) out.push(`/run/netns/${f}`);
  for (const p of bridgePorts(net.bridge)) out.push(`veth ${p}`);
  for (const l of await leases(net)) out.push(`lease ${l}`);
  const saved = execFileSync('iptables-save', { encoding: 'utf8' });
  for (const l of saved.split('\n')) if (l.includes(net.name)) out.push(`iptables: ${l}`);
  for (const ch of chains) if (saved.includes(`:${ch} `)) out.push(`iptables chain ${ch}`);
  for (const h of await findPidHolders(path.join(d.state, 'pods'))) out.push(`PID holder ${h.pid}`);
  for (const [id] of await conmons(d)) out.push(`conmon of ${id}`);
  for (const [id, st] of await runcList(d)) out.push(`runc ${id} ${st}`);
  return out;
}

const clean = async () => waitFor(async () => (await leftovers()).length === 0, 10_000, 'nothing left').catch(async () => {
  assert.deepEqual(await leftovers(), [], 'nothing left behind');
});

test('40 pods (4 with hostPorts) run, get a container, stop and go all at once; nothing is left', async () => {
  const N = 40;
  const ports = await freePorts(4);
  let t = Date.now();
  const ids = await Promise.all(Array.from({ length: N }, (_, i) => runPod(`many-${i}`, i < ports.length ? ports[i] : 0)));
  const runMs = Date.now() - t;
  t = Date.now();
  const ctrs = await Promise.all(ids.map((id, i) => runContainer(id, `many-${i}`)));
  const ctrMs = Date.now() - t;
  noteChains(ids);
  const st = await Promise.all(ids.map((id) => c.podSandboxStatus({ podSandboxId: id })));
  assert.deepEqual(st.filter((s) => s.status?.state !== PodSandboxState.SANDBOX_READY).map((s) => s.status?.id), [], 'every pod is ready');
  const ips = st.map((s) => s.status?.network?.ip ?? '');
  assert.equal(new Set(ips).size, N, `distinct IPs: ${ips.join(' ')}`);
  assert.ok(ips.every((ip) => ip.startsWith(net.subnet.split('.').slice(0, 3).join('.') + '.')), ips.join(' '));
  const cst = await Promise.all(ctrs.map((id) => c.containerStatus({ containerId: id })));
  assert.deepEqual(cst.filter((s) => s.status?.state !== ContainerState.CONTAINER_RUNNING).map((s) => `${s.status?.id} ${s.status?.state} ${s.status?.message}`), []);
  for (const p of ports) assert.ok(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).includes(`--dport ${p} `), `the hostPort ${p} is mapped`);
  t = Date.now();
  await removeAll();
  const rmMs = Date.now() - t;
  console.log(`# ${N} pods: RunPodSandbox ${runMs} ms, Create+StartContainer ${ctrMs} ms, Stop+RemovePodSandbox ${rmMs} ms (all at once)`);
  assert.deepEqual((await c.listPodSandbox({})).items, []);
  assert.deepEqual((await c.listContainers({})).containers, []);
  await clean();
});

/**
 * kubelet's relist and stats loop in a tight loop on a client of its own, until stop():
 * what it saw wrong. While pods are made (`making`) no pod may be NOTREADY and nothing may
 * be missing; while they go, a status of what was listed an instant ago may be NotFound.
 */
function poll(making: () => boolean): { stop: () => Promise<{ bad: string[]; polls: number }> } {
  const bad: string[] = [];
  let done = false;
  let polls = 0;
  const gone = (e: unknown) => !making() && isKind(e, 'NotFound');
  const run = (async () => {
    const p = criClient(d.criSock);
    try {
      while (!done) {
        polls++;
        try {
          for (const s of (await p.listPodSandbox({})).items) {
            if (!s.metadata?.name || !s.metadata.uid || !s.createdAt) bad.push(`listed pod ${s.id} without metadata/createdAt`);
            // no pod is stopped then: a NOTREADY one is a pod listed before its run finished
            // (containerd lists a sandbox only once it is ready; kubelet's GC removes NOTREADY ones)
            if (making() && s.state !== PodSandboxState.SANDBOX_READY) bad.push(`pod ${s.id} listed before it is ready`);
            const ps = await p.podSandboxStatus({ podSandboxId: s.id }).then((r) => r.status, (e: unknown) => { if (!gone(e)) throw e; });
            if (ps && (!ps.metadata?.name || !ps.linux?.namespaces?.options)) bad.push(`pod status ${s.id} half made`);
            if (ps?.state === PodSandboxState.SANDBOX_READY && !ps.network?.ip) bad.push(`ready pod ${s.id} without an IP`);
          }
          for (const k of (await p.listContainers({})).containers) {
            if (!k.metadata?.name || !k.image?.image || !k.podSandboxId || !k.createdAt) bad.push(`listed container ${k.id} half made`);
            const cs = await p.containerStatus({ containerId: k.id }).then((r) => r.status, (e: unknown) => { if (!gone(e)) throw e; });
            if (cs && (!cs.metadata?.name || !cs.image?.image || !cs.imageRef || !cs.logPath)) bad.push(`container status ${k.id} half made`);
          }
          for (const st of (await p.listContainerStats({})).stats) if (!st.attributes?.metadata?.name) bad.push(`container stats ${st.attributes?.id} half made`);
          for (const st of (await p.listPodSandboxStats({})).stats) if (!st.attributes?.metadata?.name) bad.push(`pod stats ${st.attributes?.id} half made`);
        } catch (e) {
          bad.push(`poll failed: ${errorMessage(e)}`);
        }
      }
    } finally {
      p.close();
    }
  })();
  return { stop: async () => { done = true; await run; return { bad: [...new Set(bad)], polls }; } };
}

test('lists, statuses and stats polled while 20 pods are made and removed never fail nor show a half-made object', async () => {
  let making = true;
  const poller = poll(() => making);
  try {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => runPod(`poll-${i}`)));
    await Promise.all(ids.map((id, i) => runContainer(id, `poll-${i}`)));
    making = false;
    await removeAll();
  } finally {
    const { bad, polls } = await poller.stop();
    assert.deepEqual(bad, []);
    assert.ok(polls >= 2, `polled ${polls} times`);
  }
  await clean();
});

// killed early (CNI plugins running, records half written) and once the first run is done
for (const when of ['early', 'late'] as const) test(`kill -9 of tsulad with 10 RunPodSandbox in flight (${when}): pods are ready or removable, nothing else is left, a retry works`, async () => {
  const names = Array.from({ length: 10 }, (_, i) => `crash-${when}-${i}`);
  const runs = names.map((n) => runPod(n).catch((e: unknown) => e));
  if (when === 'early') await waitFor(async () => (await fs.readdir(path.join(d.graph, 'cni', 'results', 'results')).catch(() => [])).length >= 3, 30_000, 'CNI ADDs under way');
  else await Promise.race(runs);
  await d.stop('SIGKILL');
  await Promise.all(runs);
  await d.start();
  c.close();
  c = criClient(d.criSock);
  const pods = (await c.listPodSandbox({})).items;
  console.log(`# ${when}: after the restart: ${pods.filter((p) => p.state === PodSandboxState.SANDBOX_READY).length} of 10 pods ready, ${pods.length} listed`);
  for (const p of pods) {
    assert.ok(p.metadata?.name.startsWith(`crash-${when}-`), `pod ${p.id} has its metadata`);
    if (p.state !== PodSandboxState.SANDBOX_READY) continue;
    // a ready pod is usable: a container runs in it
    const id = await runContainer(p.id, p.metadata!.name);
    assert.equal((await c.containerStatus({ containerId: id })).status?.state, ContainerState.CONTAINER_RUNNING);
  }
  noteChains(pods.map((p) => p.id));
  await removeAll();
  await clean();
  // kubelet retries RunPodSandbox with the same name, uid and attempt: no stale reservation
  const again = await Promise.all(names.map((n) => runPod(n)));
  assert.equal(new Set(again).size, 10);
  await removeAll();
  await clean();
});

test('RunPodSandbox given up on by its client at any point (deadlines of 0.2 to 1 s): kubelet\'s retry of the name works, nothing leaks', async () => {
  const names = Array.from({ length: 15 }, (_, i) => `late-${i}`);
  await Promise.allSettled(names.map((n, i) => c.runPodSandbox({ config: podConfig(n) }, { timeoutMs: i < 5 ? 200 * (i + 1) : 500 })));
  // until a given-up run has gone, its name is reserved (containerd's "name is reserved"
  // too); one that finished all the same is a ready pod of that name, which kubelet's next
  // sync finds in ListPodSandbox and keeps
  const again = await Promise.all(names.map((n) => waitFor(async () => runPod(n).catch(async (e: unknown) => {
    if (!isKind(e, 'AlreadyExists')) throw e;
    return (await c.listPodSandbox({})).items.find((p) => p.metadata?.name === n && p.state === PodSandboxState.SANDBOX_READY)?.id ?? '';
  }), 30_000, `a retry of ${n}`)));
  assert.equal(new Set(again).size, names.length);
  assert.deepEqual((await c.listPodSandbox({})).items.map((p) => p.id).sort(), [...again].sort(), 'one pod per name is left');
  noteChains(again);
  await removeAll();
  await clean();
});

test('the same pod name twice at once: one wins, the other is told the name is reserved; nothing leaks', async () => {
  for (let round = 0; round < 3; round++) {
    const name = `twin-${round}`;
    const r = await Promise.allSettled([runPod(name), runPod(name)]);
    const won = r.filter((x) => x.status === 'fulfilled');
    const lost = r.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    assert.equal(won.length, 1, `one of two wins: ${lost.map((x) => errorMessage(x.reason)).join('; ')}`);
    assert.ok(isKind(lost[0]!.reason, 'AlreadyExists'), errorMessage(lost[0]!.reason));
    assert.match(errorMessage(lost[0]!.reason), new RegExp(`pod sandbox name "${name}_ccon_uid-${name}_0" is reserved for [0-9a-f]{64}`));
    assert.deepEqual((await c.listPodSandbox({})).items.map((p) => p.id), [(won[0] as PromiseFulfilledResult<string>).value]);
    await removeAll();
  }
  await clean();
});

test('a run whose clean-up fails (a CNI DEL error) leaves a NOTREADY pod that keeps its name; stop and remove release it once DEL works', async () => {
  const flakyConf = path.join(net.confDir, '00-flaky.conflist');
  const list = JSON.parse(await fs.readFile(path.join(net.confDir, '10-test.conflist'), 'utf8')) as { plugins: unknown[] };
  list.plugins.splice(1, 0, { type: 'flaky' });
  await fs.writeFile(path.join(net.tmp, 'bin', 'del-fails'), '');
  await fs.writeFile(flakyConf, JSON.stringify(list));
  try {
    await assert.rejects(runPod('flaky'), /flaky refuses/);
  } finally {
    await fs.rm(flakyConf);
  }
  const [p, ...more] = (await c.listPodSandbox({})).items;
  assert.deepEqual(more, []);
  assert.equal(p?.state, PodSandboxState.SANDBOX_NOTREADY, 'the pod is kept, not ready: its network is not released yet');
  assert.equal(p.metadata?.name, 'flaky');
  noteChains([p.id]);
  await assert.rejects(runPod('flaky'), (e: Error) => isKind(e, 'AlreadyExists'));
  // kubelet's next attempt has a name of its own
  const next = (await c.runPodSandbox({ config: podConfig('flaky', 0, 1) })).podSandboxId;
  noteChains([next]);
  await assert.rejects(c.stopPodSandbox({ podSandboxId: p.id }), /flaky cannot delete yet/);
  await fs.rm(path.join(net.tmp, 'bin', 'del-fails'));
  await removeAll();
  await clean();
});
