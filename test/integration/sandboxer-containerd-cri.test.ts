// Kubernetes' way to tsula through stock containerd: containerd 1.6's own CRI plugin with a
// runtime handler whose runtime_type is io.containerd.tsula.v2, driven by the real crictl,
// pods on a private CNI bridge. The pause container and the pod's containers are tasks of the
// one tsula-sandboxer (runc kind); containerd writes the CRI logs from the tasks' FIFOs, runs
// exec/attach/port-forward streams, reads Stats, sends Update, and takes reasons from events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { TestContainerd, nodeProcessesUnder, processesNamed } from '../helpers/containerd.js';
import { IMAGES, waitFor } from '../helpers/daemon.js';
import { crictlPath } from '../helpers/crictl.js';
import { createTestNet, purgeForeignAttachments, bridgePorts, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { PtyProcess } from '../helpers/pty.js';
import { detectCgroups, readCgroup } from '../../src/cgroups/index.js';

requirePrerequisites('sandboxer-containerd-cri', {
  root: true,
  files: {
    '/usr/bin/containerd': 'containerd', '/usr/bin/ctr': 'containerd', '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon',
    '/usr/bin/umoci': 'umoci', '/usr/bin/skopeo': 'skopeo', '/bin/busybox': 'busybox-static', '/usr/lib/cni/bridge': 'containernetworking-plugins',
  },
});

let net: TestNet;
let c: TestContainerd;
/** Every pod's cgroups go under this parent (removed at the end), never containerd's shared /k8s.io. */
const CGROUP_PARENT = `/tsula-ctrdcri-${randomBytes(3).toString('hex')}`;

before(async () => {
  crictlPath();
  net = await createTestNet('ctrdcri');
  c = await TestContainerd.start({ cri: { cniConfDir: net.confDir } });
  await c.ok(['-n', 'k8s.io', 'images', 'import', path.join(IMAGES, 'busybox.tar')]);
});

after(async () => {
  let pods: string[] = [];
  if (c) {
    // containerd's own teardown first (CNI DEL); then whatever a failed test left
    await c.crictl(['rmp', '--all', '--force']).catch(() => {});
    pods = (await c.ctr(['-n', 'k8s.io', 'containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    await c.destroy();
  }
  if (net) {
    await purgeForeignAttachments(net, pods);
    await net.destroy();
  }
  for (const ctrl of await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    await fs.rmdir(path.join('/sys/fs/cgroup', ctrl, CGROUP_PARENT)).catch(() => {});
  }
});

const ok = async (args: string[], o: { input?: string } = {}) => {
  const r = await c.crictl(args, o);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}\n${await c.sandboxerLog()}`);
  return r.stdout.trim();
};

let n = 0;
async function pod(): Promise<{ id: string; cfg: string; logs: string; hostname: string }> {
  const cfg = path.join(c.dir, `pod-${++n}.json`);
  const logs = path.join(c.dir, 'logs', `p${n}`);
  await fs.writeFile(cfg, JSON.stringify({
    metadata: { name: `p${n}`, namespace: 'ctrdcri', uid: `uid-${n}`, attempt: 0 }, hostname: `pod-${n}`,
    log_directory: logs, linux: { cgroup_parent: CGROUP_PARENT },
  }));
  return { id: await ok(['runp', '--runtime', 'tsula', cfg]), cfg, logs, hostname: `pod-${n}` };
}

async function ctr(p: { id: string; cfg: string }, name: string, extra: Record<string, unknown>, start = true): Promise<string> {
  const f = path.join(c.dir, `ctr-${name}-${++n}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'docker.io/library/busybox:latest' }, log_path: `${name}.log`, linux: {}, ...extra }));
  const id = await ok(['create', p.id, f, p.cfg]);
  if (start) await ok(['start', id]);
  return id;
}

interface Inspect { status: { state: string; exitCode: number; reason: string; message: string; logPath: string }; info: { pid: number } }
const inspect = async (id: string) => JSON.parse(await ok(['inspect', id])) as Inspect;
const k8sTasks = async () => new Set((await c.ok(['-n', 'k8s.io', 'tasks', 'ls'])).split('\n').slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean));

test('a pod: its pause and app containers on the one sandboxer, logs, exec -s, exec -it under typing, update, stats, and stopp/rmp leave nothing', async () => {
  const p = await pod();
  const id = await ctr(p, 'app', { command: ['sh', '-c', 'echo to-out; echo to-err >&2; exec sleep 1000'] });
  // containerd started the pause container and the app container as tasks on tsula: one
  // sandboxer process serves both, no other Node.js process exists for them
  assert.deepEqual(await k8sTasks(), new Set([p.id, id]));
  const sb = await c.sandboxerPid();
  assert.deepEqual(await nodeProcessesUnder(c.dir), [sb]);
  assert.equal((await processesNamed('conmon', c.dir)).length, 2);
  assert.equal((await inspect(id)).status.state, 'CONTAINER_RUNNING');

  // containerd writes the CRI log file from the task's stdout/stderr FIFOs
  await waitFor(async () => (await c.crictl(['logs', id])).stderr.includes('to-err'), 10_000, 'the logs');
  const logs = await c.crictl(['logs', id]);
  assert.deepEqual([logs.stdout, logs.stderr], ['to-out\n', 'to-err\n']);
  // (containerd reads the two FIFOs apart: the lines of the two streams come in either order)
  const lines = (await fs.readFile(path.join(p.logs, 'app.log'), 'utf8')).split('\n').filter(Boolean).sort((a, b) => a.split(' ')[1]!.localeCompare(b.split(' ')[1]!));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0]!, /^\S+Z stderr F to-err$/);
  assert.match(lines[1]!, /^\S+Z stdout F to-out$/);

  assert.equal(await ok(['exec', '-s', id, 'hostname']), p.hostname);
  const bad = await c.crictl(['exec', id, 'sh', '-c', 'exit 7']);
  assert.match(bad.stderr, /command terminated with exit code 7/);

  // exec -it with a key typed before the exec ends: all its output must arrive. containerd's
  // CRI closes a TTY exec's output as soon as writing its stdin fails, so the stdin FIFO must
  // stay open after the exit (containerd-shim-runc-v2 keeps it until Delete); a short exec
  // whose input comes just after its exit lost its output about one time in three
  for (let i = 0; i < 15; i++) {
    const t = new PtyProcess([crictlPath(), '--config', '/dev/null', '--runtime-endpoint', `unix://${c.sock}`, 'exec', '-it', id, 'sh', '-c', 'echo end-$((6*7))']);
    t.type('x');
    try {
      assert.equal(await t.status(), 0, t.output);
    } finally {
      t.kill();
    }
    assert.match(t.output, /end-42/, `run ${i}: ${JSON.stringify(t.output)}`);
  }

  // CRI's UpdateContainerResources is the Task API's Update: runc update of the cgroup
  const layout = await detectCgroups();
  const cg = `${CGROUP_PARENT}/${id}`;
  await ok(['update', '--memory', String(64 << 20), '--cpu-quota', '50000', '--cpu-period', '100000', id]);
  assert.equal((await readCgroup(layout, cg))?.memory?.limit, BigInt(64 << 20));
  const st = JSON.parse(await ok(['stats', '-o', 'json', id])) as { stats: Array<{ memory: { workingSetBytes: { value: string } } }> };
  assert.ok(Number(st.stats[0]!.memory.workingSetBytes.value) > 0, JSON.stringify(st));

  await ok(['stopp', p.id]);
  await ok(['rmp', p.id]);
  assert.deepEqual(await k8sTasks(), new Set());
  assert.deepEqual(await fs.readdir(path.join(c.sbState, 'tasks')), []);
  await waitFor(async () => (await processesNamed('conmon', c.dir)).length === 0, 10_000, 'conmons to exit');
  assert.deepEqual(bridgePorts(net.bridge), []);
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(c.dir));
  assert.deepEqual(mounts, []);
  assert.equal(await c.sandboxerPid(), sb);
});

test('a container whose init leaves a child in the pod\'s PID namespace: the child goes before the exit is told (runc-v2\'s KillAll), so containerd\'s log readers end cleanly', async () => {
  const p = await pod();
  const id = await ctr(p, 'kids', { command: ['sh', '-c', 'trap "echo bye; exit 0" TERM; while true; do echo hello; sleep 1 & wait; done'] });
  await waitFor(async () => (await fs.readFile(path.join(p.logs, 'kids.log'), 'utf8').catch(() => '')).includes('hello'), 15_000, 'the first line');
  await ok(['stop', '-t', '5', id]);
  const s = await inspect(id);
  assert.deepEqual([s.status.state, s.status.exitCode], ['CONTAINER_EXITED', 0]);
  const log = await fs.readFile(path.join(p.logs, 'kids.log'), 'utf8');
  assert.match(log, /stdout F bye\n$/, 'the last line is there');
  await new Promise((r) => setTimeout(r, 500));
  const errs = (await c.log()).split('\n').filter((l) => l.includes('Failed to pipe') && l.includes(id));
  assert.deepEqual(errs, [], 'containerd read every stream to its end');
  await ok(['stopp', p.id]);
  await ok(['rmp', p.id]);
});

test('failures reach crictl in the runtime\'s words: a command that does not exist, and the OOM killer (reason OOMKilled)', async () => {
  const p = await pod();
  // a container of a pod joins the pause's PID namespace: runc then warns before it fails,
  // and the error it reports must be the failure, not the warning
  const bad = await ctr(p, 'bad', { command: ['/nonexistent'] }, false);
  const r = await c.crictl(['start', bad]);
  assert.notEqual(r.code, 0);
  // (crictl quotes the message: its " come as \")
  assert.match(r.stderr, /OCI runtime create failed: runc create failed: unable to start container process: exec: \\?"\/nonexistent\\?": stat \/nonexistent: no such file or directory/);
  const b = await inspect(bad);
  assert.deepEqual([b.status.state, b.status.exitCode, b.status.reason], ['CONTAINER_EXITED', 128, 'StartError']);
  assert.match(b.status.message, /exec: "\/nonexistent"/);

  // containerd gives an exited container the reason OOMKilled only on a TaskOOM event
  const oom = await ctr(p, 'oom', {
    command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'],
    linux: { resources: { memory_limit_in_bytes: 16 << 20 } },
  });
  await waitFor(async () => (await inspect(oom)).status.state === 'CONTAINER_EXITED', 30_000, 'the OOM kill');
  const o = await inspect(oom);
  assert.deepEqual([o.status.exitCode, o.status.reason], [137, 'OOMKilled']);
  await ok(['stopp', p.id]);
  await ok(['rmp', p.id]);
});
