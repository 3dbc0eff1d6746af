// containerd-shim-tsula-v2 (tsula-sandboxer, runc kind) beside Debian's containerd-shim-runc-v2,
// driven by the same stock ctr against one private containerd 1.6: exit codes, statuses,
// what ctr prints for the same mistakes, `ctr t ps`, metrics, events and a containerd restart
// must read the same. Every scenario runs once per runtime; ids carry the runtime's name.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestContainerd } from '../helpers/containerd.js';
import { waitFor } from '../helpers/daemon.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

const IMAGE = 'docker.io/library/busybox:latest';
const RUNTIMES = ['runc', 'tsula'] as const;
type Rt = (typeof RUNTIMES)[number];
requirePrerequisites('shimv2-ctr-parity', {
  root: true,
  files: { '/usr/bin/containerd': 'containerd', '/usr/bin/ctr': 'containerd', '/usr/bin/containerd-shim-runc-v2': 'containerd', '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/script': 'util-linux' },
});

let c: TestContainerd;
const rtArg = (rt: Rt) => ['--runtime', `io.containerd.${rt}.v2`];

before(async () => {
  c = await TestContainerd.start();
  await c.importBusybox();
});

after(async () => {
  if (c) await c.destroy();
});

async function status(id: string): Promise<string | undefined> {
  const line = (await c.ok(['task', 'ls'])).split('\n').find((l) => l.startsWith(`${id} `));
  return line?.trim().split(/\s+/)[2];
}

/** Kill (if needed), delete the task and the container; for finally blocks: never throws. */
async function remove(id: string): Promise<void> {
  await c.ctr(['task', 'delete', '--force', id]);
  await c.ctr(['containers', 'delete', id]);
}

/** ctr's error line without the errdefs code it appends (runc-v2's state errors are "unknown"). */
function words(stderr: string): string {
  return stderr.trim().split('\n').at(-1)!.replace(/^ctr: /, '').replace(/: (unknown|failed precondition)$/, '');
}

/**
 * Run fn for the peer, then for tsula; the results (ids made runtime-neutral) must be equal.
 * The peer is the reference but, on a loaded host, now and then loses a line or an event (its
 * 2 s IO wait at delete, cgroup v1's eventfd): when the two differ, or the peer's take fails,
 * the peer runs once more and tsula's result must equal that take. tsula's is returned.
 */
async function same<T>(what: string, fn: (rt: Rt, id: (s: string) => string) => Promise<T>): Promise<T> {
  const take = async (rt: Rt, prefix: string): Promise<T> =>
    JSON.parse(JSON.stringify(await fn(rt, (s) => `${prefix}${s}`)).replaceAll(prefix, 'ID-')) as T;
  const peer = await take('runc', 'runc-').catch((e: Error) => e);
  const ours = await take('tsula', 'tsula-');
  if (peer instanceof Error || !isDeepStrictEqual(ours, peer)) {
    console.log(`# ${what}: runc-v2's first take ${peer instanceof Error ? `failed (${peer.message.split('\n')[0]})` : 'differed'}; taken again`);
    assert.deepEqual(ours, await take('runc', 'runc2-'), `${what}: tsula (actual) vs runc-v2 (expected)`);
  }
  return ours;
}

test('ctr run --rm: exit codes 3, 127 for a missing command, 137 after a SIGKILL; a missing binary\'s error', async () => {
  await same('run --rm', async (rt, id) => {
    const r3 = await c.ctr(['run', '--rm', ...rtArg(rt), IMAGE, id('r3'), 'sh', '-c', 'echo out; exit 3']);
    const r127 = await c.ctr(['run', '--rm', ...rtArg(rt), IMAGE, id('r127'), 'sh', '-c', 'nosuch']);
    const nx = await c.ctr(['run', '--rm', ...rtArg(rt), IMAGE, id('nx'), '/nonexistent']);
    const run = c.ctr(['run', '--rm', ...rtArg(rt), IMAGE, id('k'), 'sleep', '1000']);
    try {
      await waitFor(async () => (await status(id('k'))) === 'RUNNING', 15_000, `${id('k')} to run`);
      await c.ok(['task', 'kill', '-s', 'SIGKILL', id('k')]);
      const r137 = await run;
      return { r3: [r3.code, r3.stdout], r127: [r127.code, r127.stderr], nx: [nx.code, words(nx.stderr)], r137: r137.code };
    } finally {
      await remove(id('k'));
      await run;
    }
  });
});

test('--log-uri: file:// gets both streams appended; binary:// runs the logger with the streams on fds 3 and 4, its args and env', { timeout: 120_000 }, async () => {
  // a logger as containerd documents one: ready by closing fd 5, then each stream to a file
  const logger = path.join(c.dir, 'logger.sh');
  await fs.writeFile(logger, `#!/bin/sh\nout="$2"\necho "$CONTAINER_NAMESPACE $CONTAINER_ID $1 $2" > "$out.env"\nexec 5>&-\ncat <&3 > "$out.1" &\ncat <&4 > "$out.2"\nwait\n`, { mode: 0o755 });
  const r = await same('log uri', async (rt, id) => {
    const file = path.join(c.dir, `${id('lf')}.log`);
    const f = await c.ctr(['run', '--rm', ...rtArg(rt), '--log-uri', `file://${file}`, IMAGE, id('lf'), 'sh', '-c', 'echo to-log; echo err-log >&2; exit 3']);
    const fileText = await fs.readFile(file, 'utf8').catch((e: Error) => e.message);
    const ex = path.join(c.dir, `${id('le')}.log`);
    assert.equal((await c.ctr(['run', '-d', ...rtArg(rt), IMAGE, id('le'), 'sleep', '300'])).code, 0);
    // ("t": the helper adds --fifo-dir to "task exec", which ctr refuses with --log-uri)
    const e = await c.ctr(['t', 'exec', '--exec-id', 'x1', '--log-uri', `file://${ex}`, id('le'), 'sh', '-c', 'echo from-exec']);
    await remove(id('le'));
    const out = path.join(c.dir, `${id('lb')}`);
    const b = await c.ctr(['run', '--rm', ...rtArg(rt), '--log-uri', `binary://${logger}?out=${out}`, IMAGE, id('lb'), 'sh', '-c', 'echo to-bin; echo err-bin >&2']);
    await waitFor(async () => (await fs.readFile(`${out}.2`, 'utf8').catch(() => '')) === 'err-bin\n', 10_000, 'the logger\'s stderr');
    const bin = await Promise.all(['env', '1', '2'].map((x) => fs.readFile(`${out}.${x}`, 'utf8').catch((err: Error) => err.message)));
    return { file: [f.code, fileText.split('\n').sort().join('|')], exec: [e.code, await fs.readFile(ex, 'utf8').catch((err: Error) => err.message)], binary: [b.code, bin] };
  });
  assert.deepEqual(r.file, [3, '|err-log|to-log']);
  assert.deepEqual(r.exec, [0, 'from-exec\n']);
  assert.deepEqual(r.binary, [0, [`tsula ID-lb out ${path.join(c.dir, 'ID-lb')}\n`, 'to-bin\n', 'err-bin\n']]);
});

test('run -d, exec, ps, pause/resume, kill, metrics and delete: the same statuses, codes and words', { timeout: 120_000 }, async () => {
  await same('task lifecycle', async (rt, id) => {
    const d = id('d');
    const o: Record<string, unknown> = {};
    await c.ok(['run', '-d', ...rtArg(rt), IMAGE, d, 'sleep', '1000']);
    try {
      o.ls = await status(d);
      o.exec = await execOut(d);
      const missing = await c.ctr(['task', 'exec', '--exec-id', 'e2', d, 'nosuchcmd']);
      o.missing = [missing.code, words(missing.stderr)];
      await c.ok(['task', 'exec', '-d', '--exec-id', 'bg', d, 'sleep', '1000']);
      o.dup = words((await c.ctr(['task', 'exec', '--exec-id', 'bg', d, 'true'])).stderr);
      // the exec's process says which exec it is; the init's says nothing
      o.ps = (await c.ok(['task', 'ps', d])).split('\n').slice(1).filter(Boolean).map((l) => l.trim().split(/\s+/).slice(1).join(' ')).sort();
      o.tty = await execTty(d);
      await c.ok(['task', 'pause', d]);
      o.paused = await status(d);
      o.pause2 = words((await c.ctr(['task', 'pause', d])).stderr);
      o.execPaused = words((await c.ctr(['task', 'exec', '--exec-id', 'e3', d, 'true'])).stderr);
      o.deletePaused = words((await c.ctr(['task', 'delete', d])).stderr);
      await c.ok(['task', 'resume', d]);
      o.resume2 = words((await c.ctr(['task', 'resume', d])).stderr);
      o.deleteRunning = words((await c.ctr(['task', 'delete', d])).stderr);
      o.killGone = words((await c.ctr(['task', 'kill', '--exec-id', 'nope', d])).stderr);
      o.deleteGone = words((await c.ctr(['task', 'delete', '--exec-id', 'nope', d])).stderr);
      await c.ok(['task', 'kill', '-s', 'SIGKILL', '--all', d]);
      await waitFor(async () => (await status(d)) === 'STOPPED', 10_000, `${d} to stop`);
      o.killStopped = words((await c.ctr(['task', 'kill', d])).stderr);
      o.pauseStopped = words((await c.ctr(['task', 'pause', d])).stderr);
      o.resumeStopped = words((await c.ctr(['task', 'resume', d])).stderr);
      o.execStopped = words((await c.ctr(['task', 'exec', '--exec-id', 'e4', d, 'true'])).stderr);
      // an exited task keeps its cgroup until Delete: its last usage, no process left
      o.metricsStopped = /^pids\.current\s+0\s*$/m.test(await c.ok(['task', 'metrics', d]));
      const del = await c.ctr(['task', 'delete', d]);
      o.delete = [del.code, /exit code 137/.test(del.stderr)];
    } finally {
      await remove(d);
    }
    return o;
  });
});

/**
 * `ctr t exec` of `echo x; exit 4`: its code and output. ctr returns once the exit is in and
 * may close its fifos before it copied what the process wrote (runc-v2's too, seen on a loaded
 * CI host): tried again with a new exec id when the output is missing.
 */
async function execOut(id: string): Promise<[number, string]> {
  let r: [number, string] = [-1, ''];
  for (let i = 1; i <= 3 && !r[1]; i++) {
    const ex = await c.ctr(['task', 'exec', '--exec-id', `e1-${i}`, id, 'sh', '-c', 'echo x; exit 4']);
    r = [ex.code, ex.stdout];
  }
  return r;
}

/**
 * `ctr t exec -t` under a pty (ctr insists on a console): what the process saw, and its code.
 * On a loaded host ctr sometimes exits before it copied the output (runc-v2's too): tried again.
 */
async function execTty(id: string): Promise<[number, string]> {
  let r: [number, string] = [-1, ''];
  for (let i = 1; i <= 3 && !r[1]; i++) r = await execTtyOnce(id, `tty${i}`);
  return r;
}

async function execTtyOnce(id: string, execId: string): Promise<[number, string]> {
  const cmd = `ctr -a ${c.sock} -n tsula task exec -t --exec-id ${execId} ${id} sh -c 'tty; exit 6'`;
  // script's stdin stays open until the end: at its EOF, script writes the pty's EOF character
  // to ctr, which passes it on as the exec's input, echoed into the output as ^@ or ^D
  const p = spawn('script', ['-qec', cmd, '/dev/null'], { env: c.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  const code = await new Promise<number>((r) => p.on('close', (x) => r(x ?? -1)));
  p.stdin.destroy();
  // a resize ERRO racing the exit is not the process' output
  return [code, out.replace(/\r/g, '').split('\n').filter((l) => l.startsWith('/dev/pts/')).join('\n')];
}

test('metrics of a running task: the cgroup fields runc-v2 fills, in the same Metrics', async () => {
  await same('metrics', async (rt, id) => {
    await c.ok(['run', '-d', ...rtArg(rt), IMAGE, id('m'), 'sleep', '1000']);
    try {
      const table = await c.ok(['task', 'metrics', id('m')]);
      const rows = table.split('\n').map((l) => /^([a-z_.]+)\s+\S/.exec(l)?.[1]).filter((x) => x && x !== 'METRIC');
      const json = JSON.parse(await c.ok(['task', 'metrics', '--format', 'json', id('m')])) as Record<string, Record<string, unknown>>;
      const mem = (json.memory ?? {}) as Record<string, Record<string, unknown>>;
      const keys = (o: unknown) => Object.keys((o ?? {}) as object).sort();
      return {
        rows, top: keys(json), cpu: keys(json.cpu?.usage).filter((k) => k !== 'user' && k !== 'kernel'), usage: keys(mem.usage), pids: json.pids,
        // cgroup v1's memsw (swap: memory + swap), kmem, kmem.tcp and oom_control, as containerd's cgroups reads them
        swap: keys(mem.swap), kernel: keys(mem.kernel), kernelTcp: keys(mem.kernel_tcp), oom: keys(json.memory_oom_control),
        swapIsMemoryPlusSwap: mem.swap ? Number(mem.swap.usage) >= Number(mem.usage?.usage) : null,
      };
    } finally {
      await remove(id('m'));
    }
  });
});

test('checkpoint: tsula says plainly that it cannot, and what to use', async () => {
  await c.ok(['run', '-d', ...rtArg('tsula'), IMAGE, 'ck', 'sleep', '1000']);
  try {
    const r = await c.ctr(['task', 'checkpoint', 'ck']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ctr: checkpoint task ck: tsula-sandboxer cannot checkpoint tasks .*io\.containerd\.runc\.v2.*: not implemented/);
    assert.equal(await status('ck'), 'RUNNING');
  } finally {
    await remove('ck');
  }
});

test('events: the same task topics in the same order with the same fields', async () => {
  const ev = await c.events();
  const text = ev.text;
  try {
    await same('events', async (rt, id) => {
      const e = id('ev');
      const from = text().length;
      try {
        await c.ok(['run', '-d', ...rtArg(rt), IMAGE, e, 'sleep', '1000']);
        await c.ok(['task', 'pause', e]);
        await c.ok(['task', 'resume', e]);
        await c.ctr(['task', 'exec', '--exec-id', 'x9', e, 'sh', '-c', 'exit 3']);
        await c.ok(['task', 'kill', '-s', 'SIGKILL', e]);
        await waitFor(async () => (await status(e)) === 'STOPPED', 10_000, `${e} to stop`);
        await c.ok(['task', 'delete', e]);
        await c.ok(['run', '--rm', ...rtArg(rt), '--memory-limit', '8388608', IMAGE, id('oom'), 'sh', '-c', 'x=a; while true; do x=$x$x; done']).catch(() => {});
        await waitFor(async () => text().slice(from).includes(`/tasks/delete {"container_id":"${id('oom')}"`), 10_000, 'the oom task\'s delete');
      } finally {
        await remove(e);
      }
      // topic, the fields set, and the values that say what happened (not pids nor times)
      const seen = text().slice(from).split('\n').flatMap((l) => {
        const m = /\s(\/tasks\/[a-z-]+) (\{.*\})$/.exec(l);
        if (!m) return [];
        const o = JSON.parse(m[2]) as Record<string, unknown>;
        return [[m[1], Object.keys(o).join(','), o.exec_id ?? o.id ?? '', o.exit_status ?? '']];
      });
      // runc-v2's TaskOOM (cgroup v1's eventfd) is sometimes missing on a loaded host: tsula's
      // must be there, right before the OOM-killed task's exit; the rest is compared
      if (rt === 'tsula') {
        const at = seen.findIndex(([t, , x]) => t === '/tasks/exit' && x === id('oom'));
        assert.deepEqual(seen[at - 1], ['/tasks/oom', 'container_id', '', ''], 'tsula\'s TaskOOM before the exit of the OOM-killed task');
      }
      return seen.filter(([t]) => t !== '/tasks/oom');
    });
  } finally {
    await ev.close();
  }
});

test('a child OOM-killed while the task runs: TaskOOM at once, as runc-v2\'s epoller sends it, and none more at the exit', { timeout: 60_000 }, async () => {
  const ev = await c.events();
  const id = 'tsula-childoom';
  try {
    await c.ok(['run', '-d', ...rtArg('tsula'), '--memory-limit', '33554432', IMAGE, id, 'sh', '-c', 'sh -c "x=a; while true; do x=\\$x\\$x; done"; echo child-done; sleep 1000']);
    await waitFor(async () => ev.text().includes(`/tasks/oom {"container_id":"${id}"}`), 30_000, 'the child\'s TaskOOM');
    assert.equal(await status(id), 'RUNNING', 'the task lives on');
    await c.ok(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor(async () => ev.text().includes(`/tasks/exit {"container_id":"${id}"`), 10_000, 'the exit');
    const ooms = ev.text().split('\n').filter((l) => l.includes(`/tasks/oom {"container_id":"${id}"}`));
    assert.equal(ooms.length, 1, ev.text());
  } finally {
    await ev.close();
    await remove(id);
  }
});

test('containerd restarts under running tasks: ls, ps, exec, kill and delete work on both', { timeout: 90_000 }, async () => {
  const ids = RUNTIMES.map((rt) => `${rt}-rs`);
  try {
    for (const rt of RUNTIMES) {
      await c.ok(['run', '-d', ...rtArg(rt), IMAGE, `${rt}-rs`, 'sleep', '1000']);
      await c.ok(['task', 'exec', '-d', '--exec-id', 'bg', `${rt}-rs`, 'sleep', '1000']);
    }
    await c.restart();
    await same('after a restart', async (rt, id) => {
      const r = id('rs');
      const o: Record<string, unknown> = { ls: await status(r) };
      o.ps = (await c.ok(['task', 'ps', r])).split('\n').slice(1).filter(Boolean).length;
      o.exec = (await c.ctr(['task', 'exec', '--exec-id', 'after', r, 'echo', 'hi'])).stdout;
      o.dup = words((await c.ctr(['task', 'exec', '--exec-id', 'bg', r, 'true'])).stderr);
      await c.ok(['task', 'kill', '-s', 'SIGKILL', r]);
      await waitFor(async () => (await status(r)) === 'STOPPED', 10_000, `${r} to stop`);
      const del = await c.ctr(['task', 'delete', r]);
      o.delete = [del.code, /exit code 137/.test(del.stderr)];
      o.gone = await status(r);
      return o;
    });
  } finally {
    for (const id of ids) await remove(id);
  }
});

test('stdin: input piped into task exec arrives before its EOF (CloseIO during Start); an attach client that goes leaves the task\'s stdin open', { timeout: 120_000 }, async () => {
  await same('stdin', async (rt, id) => {
    const name = id('in');
    await c.ok(['run', '-d', ...rtArg(rt), IMAGE, name, 'sh', '-c', 'while read l; do echo echo-$l; done; echo eof; exit 3']);
    try {
      // a whole input at once: ctr sends CloseIO while the exec starts
      const ex = await c.ctr(['task', 'exec', '--exec-id', 'cat1', name, 'cat'], { input: 'abc\n', timeoutMs: 30_000 });
      // a client attached and killed: no EOF for the task (runc-v2's shim keeps its own write end)
      const att = spawn('ctr', ['-a', c.sock, '-n', 'tsula', 'task', 'attach', name], { env: c.env, stdio: ['pipe', 'ignore', 'ignore'] });
      att.stdin!.write('one\n');
      await new Promise((r) => setTimeout(r, 1500));
      att.kill('SIGKILL');
      await new Promise((r) => att.once('close', r));
      await new Promise((r) => setTimeout(r, 1000));
      return { exec: [ex.code, ex.stdout], after: await status(name) };
    } finally {
      await remove(name);
    }
  });
});
