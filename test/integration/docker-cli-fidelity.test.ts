// What the stock docker CLI shows of tsulad beyond the lifecycle: version and info filled
// in from the real host (no false warnings), docker stats' CPU and memory figures, inspect's
// HostConfig fields clients index, logs -t times, OOMKilled, RestartCount, and dockerd's
// status for a registry that cannot be reached.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { TestProxy, TestRegistry } from '../helpers/registry.js';

requirePrerequisites('docker-cli-fidelity', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/docker-registry': 'docker-registry', '/usr/bin/htpasswd': 'htpasswd' } });

let d: TestDaemon;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => { await d?.destroy(); });

async function ok(args: string[], input?: string): Promise<string> {
  const r = await docker(d, args, { input });
  assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function waitFor(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('docker version: the engine\'s versions, build, minimum API, OS/Arch and components', async () => {
  const out = await ok(['version']);
  const server = out.slice(out.indexOf('Server:'));
  assert.match(server, /API version:\s+1\.52 \(minimum version 1\.12\)/);
  assert.match(server, /Go version:\s+node v\d+\.\d+\.\d+/);
  assert.match(server, /OS\/Arch:\s+linux\/(amd64|arm64)/);
  assert.match(server, /Experimental:\s+false/);
  assert.match(server, /runc:\n\s+Version:\s+\S+/);
  const kernel = await ok(['version', '--format', '{{.Server.KernelVersion}}']);
  assert.ok(kernel.trim().length > 0);
});

test('docker info: host features from the cgroups, no false warnings, every runtime', async () => {
  const r = await docker(d, ['info']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(await ok(['info', '--format', '{{json .}}'])) as Record<string, unknown>;
  const v1 = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes');
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  if (v1 || v2) {
    assert.equal(info.MemoryLimit, true);
    assert.equal(info.CpuCfsQuota, true);
    assert.equal(info.CPUShares, true);
    assert.doesNotMatch(r.stderr, /No memory limit support|No cpu cfs quota support|No cpu shares support|No cpuset support/);
  }
  for (const k of ['SwapLimit', 'KernelMemory', 'CpuCfsPeriod', 'CPUSet', 'PidsLimit', 'OomKillDisable', 'IPv4Forwarding', 'BridgeNfIptables']) {
    assert.equal(typeof info[k], 'boolean', k);
  }
  assert.equal(info.CgroupDriver, 'cgroupfs');
  assert.match(String(info.CgroupVersion), /^[12]$/);
  const runtimes = Object.keys(info.Runtimes as Record<string, unknown>);
  for (const rt of ['runc', 'vmm']) assert.ok(runtimes.includes(rt), runtimes.join(' '));
  if (existsSync('/usr/bin/containerd-shim-runc-v2')) assert.ok(runtimes.includes('io.containerd.runc.v2'), runtimes.join(' '));
  assert.match(r.stdout, /Runtimes: .*runc/);
  assert.deepEqual((info.Plugins as { Network: string[] }).Network, ['bridge', 'host', 'null']);
  assert.match(String(info.InitBinary), /docker-init/);
  // overlay2's status rows, in dockerd's order (tsula's store rows follow)
  const rows = (info.DriverStatus as Array<[string, string]>).map(([k]) => k);
  assert.deepEqual(rows.slice(0, 5), ['Backing Filesystem', 'Supports d_type', 'Using metacopy', 'Native Overlay Diff', 'userxattr']);
});

test('docker stats: a busy loop\'s CPU, memory used and the -m limit', async () => {
  await ok(['run', '-d', '--name', 'busy', '-m', '64m', 'busybox', 'sh', '-c', 'while :; do :; done']);
  let best = 0;
  let line = '';
  for (let i = 0; i < 3 && best <= 30; i++) {
    line = (await ok(['stats', '--no-stream', '--format', '{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}', 'busy'])).trim();
    best = Math.max(best, Number(line.split('|')[0]!.replace('%', '')));
  }
  assert.ok(best > 30, `CPU ${line}`);
  const [, mem, pids] = line.split('|');
  const [used, limit] = mem!.split(' / ');
  assert.match(used!, /^[1-9][\d.]*[KM]iB$/);
  assert.equal(limit, '64MiB');
  assert.equal(pids, '1');
  // the stream: two samples a second apart, the second with precpu from the first
  const raw = await d.apiStream('GET', '/v1.41/containers/busy/stats?stream=1');
  await waitFor(async () => raw.text().split('\n').filter(Boolean).length >= 2);
  const [a, b] = raw.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { read: string; preread: string; cpu_stats: { system_cpu_usage: number; online_cpus: number } });
  assert.equal(b!.preread, a!.read);
  assert.ok(b!.cpu_stats.system_cpu_usage > a!.cpu_stats.system_cpu_usage);
  assert.ok(a!.cpu_stats.online_cpus >= 1);
  await ok(['rm', '-f', 'busy']);
  await raw.body.catch(() => '');
});

test('inspect: HostConfig has the fields docker 20.10 clients index', async () => {
  await ok(['create', '--name', 'ins', 'busybox']);
  const out = await ok(['inspect', '--format',
    '{{.HostConfig.LogConfig.Type}}|{{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.ShmSize}}|{{json .HostConfig.PortBindings}}|{{.HostConfig.IpcMode}}|{{len .HostConfig.MaskedPaths}}|{{json .HostConfig.ConsoleSize}}|{{.MountLabel}}|{{json .ExecIDs}}', 'ins']);
  // moby 28's masked paths: 12, and this host's thermal_throttle directories
  const thermal = readdirSync('/sys/devices/system/cpu').filter((n) => /^cpu\d+$/.test(n) && existsSync(`/sys/devices/system/cpu/${n}/thermal_throttle`)).length;
  assert.equal(out.trim(), `json-file|no|67108864|{}|private|${12 + thermal}|[0,0]||null`);
});

test('ps COMMAND quotes an argument with a space as dockerd does (single quotes)', async () => {
  await ok(['create', '--name', 'cmdq', 'busybox', 'sh', '-c', 'echo "a b"; exit 0']);
  assert.equal((await ok(['ps', '-a', '--no-trunc', '--filter', 'name=cmdq', '--format', '{{.Command}}'])).trim(), '"sh -c \'echo \\"a b\\"; exit 0\'"');
  assert.equal((await ok(['ps', '-a', '--filter', 'name=cmdq', '--format', '{{.Command}}'])).trim(), '"sh -c \'echo \\"a b\\"; …"');
  await ok(['create', '--name', 'cmdp', 'busybox']);
  assert.equal((await ok(['ps', '-a', '--no-trunc', '--filter', 'name=cmdp', '--format', '{{.Command}}'])).trim(), '"sh"');
});

test('logs -t prints Go\'s RFC3339Nano in UTC ("Z")', async () => {
  await ok(['run', '--name', 'ts', 'busybox', 'echo', 'hi']);
  await waitFor(async () => (await ok(['logs', 'ts'])) === 'hi\n');
  assert.match(await ok(['logs', '-t', 'ts']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z hi\n$/);
});

test('an OOM kill shows as OOMKilled and an `oom` event before the `die`; a manual restart leaves RestartCount at 0', async () => {
  const since = String(Math.floor(Date.now() / 1000) - 1);
  await ok(['run', '-d', '--name', 'oom', '-m', '8m', '--memory-swap', '8m', 'busybox', 'sh', '-c', 'x=a; while :; do x="$x$x"; done']);
  await waitFor(async () => (await ok(['inspect', '-f', '{{.State.Status}}', 'oom'])).trim() === 'exited');
  assert.equal((await ok(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}}', 'oom'])).trim(), 'true 137');
  const events = await ok(['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=oom', '--filter', 'event=oom', '--filter', 'event=die', '--format', '{{.Action}}']);
  assert.deepEqual(events.trim().split('\n'), ['oom', 'die']);
  // a child killed while the container runs: `oom` at once, as dockerd logs each TaskOOM; none more at the exit
  const t1 = String(Math.floor(Date.now() / 1000) - 1);
  await ok(['run', '-d', '--name', 'oomchild', '-m', '32m', '--memory-swap', '32m', 'busybox', 'sh', '-c', 'sh -c \'x=a; while :; do x="$x$x"; done\'; sleep 300']);
  const oomsOf = async () => (await ok(['events', '--since', t1, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=oomchild', '--filter', 'event=oom', '--filter', 'event=die', '--format', '{{.Action}}'])).trim();
  await waitFor(async () => (await oomsOf()) === 'oom', 30_000);
  assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'oomchild'])).trim(), 'running');
  await ok(['kill', 'oomchild']);
  assert.equal((await ok(['inspect', '-f', '{{.State.OOMKilled}}', 'oomchild'])).trim(), 'true');
  await waitFor(async () => (await oomsOf()) === 'oom\ndie', 10_000);
  await ok(['rm', 'oomchild']);
  await ok(['run', '-d', '--name', 'rs', 'busybox', 'sleep', '300']);
  await ok(['restart', '-t', '0', 'rs']);
  assert.equal((await ok(['inspect', '-f', '{{.RestartCount}} {{.State.Running}}', 'rs'])).trim(), '0 true');
});

test('pulling from a registry that cannot be reached: dockerd\'s 500 with the reason', async () => {
  const r = await d.api('POST', '/v1.41/images/create?fromImage=127.0.0.1:1/nothing&tag=latest');
  assert.equal(r.status, 500);
  assert.match(r.body, /127\.0\.0\.1:1 is unreachable/);
  const cli = await docker(d, ['pull', '127.0.0.1:1/nothing']);
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /Error response from daemon: .*127\.0\.0\.1:1/);
});

test('docker push to a registry behind a login: layers gzipped, the digest, RepoDigests; pull it back; -a; dockerd\'s errors', async () => {
  const reg = await TestRegistry.start({ htpasswd: { user: 'u', password: 'p' } });
  try {
    const name = `${reg.host}/pushed`;
    // dockerd wants the credentials header (docker sends "{}" encoded when it has none)
    const bare = await d.api('POST', `/v1.41/images/${name}/push?tag=1`);
    assert.equal(bare.status, 400);
    assert.match(bare.body, /Bad parameters and missing X-Registry-Auth: EOF/);
    const missing = await docker(d, ['push', `${name}:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, new RegExp(`The push refers to repository \\[${reg.host.replace(/\./g, '\\.')}/pushed\\]`));
    assert.match(missing.stderr, new RegExp(`An image does not exist locally with the tag: ${reg.host.replace(/\./g, '\\.')}/pushed\\n`));
    await ok(['tag', 'busybox', `${name}:1`]);
    await ok(['tag', 'busybox', `${name}:2`]);
    assert.match((await docker(d, ['push', `${name}:3`])).stderr, /tag does not exist: .*\/pushed:3/);
    const denied = await docker(d, ['push', `${name}:1`]);
    assert.equal(denied.code, 1, denied.stdout);
    await ok(['login', '-u', 'u', '--password-stdin', reg.host], 'p');
    const out = await ok(['push', `${name}:1`]);
    assert.match(out, /: Pushed\n/);
    const m = /^1: digest: (sha256:[0-9a-f]{64}) size: (\d+)$/m.exec(out);
    assert.ok(m, out);
    const manifest = await reg.getManifest('pushed', '1');
    assert.equal(manifest.digest, m[1]);
    assert.equal(manifest.body.length, Number(m[2]));
    const layers = manifest.json.layers as Array<{ mediaType: string; digest: string }>;
    assert.equal(layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    assert.equal((await reg.getBlob('pushed', layers[0]!.digest))[0], 0x1f); // gzip magic
    assert.match(await ok(['push', `${name}:1`]), /: Layer already exists\n/);
    assert.ok((await ok(['inspect', '-f', '{{json .RepoDigests}}', 'busybox'])).includes(`${name}@${m[1]}`));
    const all = await ok(['push', '-a', name]);
    assert.match(all, /^1: digest: /m);
    assert.match(all, /^2: digest: /m);
    // tsula's own CLI sends the same request
    await d.ok(['login', '-u', 'u', '--password-stdin', reg.host], { input: 'p' });
    assert.match(await d.ok(['push', `${name}:2`]), /^2: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    assert.equal(await d.ok(['push', '-q', `${name}:2`]), `${name}:2\n`);
    const noLatest = await d.cli(['push', name]);
    assert.equal(noLatest.code, 1);
    assert.match(noLatest.stdout, /^Using default tag: latest\n/);
    assert.match(noLatest.stderr, /tag does not exist: .*\/pushed:latest/);
    // name@digest is a reference of its own, as in dockerd: rmi takes it alone
    assert.equal(await ok(['rmi', `${name}@${m[1]}`]), `Untagged: ${name}@${m[1]}\n`);
    assert.equal((await ok(['image', 'inspect', '-f', '{{len .RepoTags}}', 'busybox'])).trim(), '3');
    await ok(['rmi', `${name}:1`, `${name}:2`]);
    await ok(['pull', `${name}:2`]);
    assert.equal(await ok(['run', '--rm', `${name}:2`, 'echo', 'round trip']), 'round trip\n');
    // its only reference, with a container of it: the conflict names the container
    await ok(['rmi', 'busybox']);
    const pin = (await ok(['create', `${name}:2`])).trim();
    const refused = await docker(d, ['rmi', `${name}:2`]);
    assert.match(refused.stderr, new RegExp(`unable to remove repository reference .* \\(must force\\) - container ${pin.slice(0, 12)} is using its referenced image`));
    await ok(['rm', pin]);
    // the last tag of a repository takes its digest references along
    const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', `${name}:2`])).trim();
    await ok(['tag', id, 'busybox:latest']);
    assert.equal(await ok(['rmi', `${name}:2`]), `Untagged: ${name}:2\nUntagged: ${name}@${m[1]}\n`);
  } finally {
    await reg.stop();
  }
});

test('docker push to a registry that wants Bearer tokens: a token with push scope from its realm, after docker login', async () => {
  const reg = await TestRegistry.start();
  const proxy = await new TestProxy(reg.host, { bearer: { service: 'push-test', user: 'bob', password: 'tok3n' } }).start();
  try {
    const name = `${proxy.host}/bearer/bb`;
    await ok(['tag', 'busybox', `${name}:1`]);
    assert.equal((await docker(d, ['push', `${name}:1`])).code, 1);
    await ok(['login', '-u', 'bob', '--password-stdin', proxy.host], 'tok3n');
    assert.match(await ok(['push', `${name}:1`]), /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
    assert.ok(proxy.tokenRequests.some((q) => q.getAll('scope').includes('repository:bearer/bb:pull,push')),
      proxy.tokenRequests.map((q) => q.toString()).join('\n'));
    assert.ok((await reg.getManifest('bearer/bb', '1')).digest.startsWith('sha256:'));
    await ok(['rmi', `${name}:1`]);
  } finally {
    await proxy.stop();
    await reg.stop();
  }
});

test('docker system prune: no builder, so an empty build cache rather than an error', async () => {
  await ok(['create', '--name', 'prunable', 'busybox']);
  const out = await ok(['system', 'prune', '-f']);
  assert.match(out, /Total reclaimed space/);
  assert.doesNotMatch((await ok(['ps', '-a', '--format', '{{.Names}}'])), /prunable/);
});

test('--stop-timeout: inspect shows it and docker stop without -t waits only that long', async () => {
  // sleep as PID 1 ignores SIGTERM: the stop ends with the SIGKILL after the timeout
  await ok(['run', '-d', '--name', 'st', '--stop-timeout', '1', 'busybox', 'sleep', '300']);
  assert.equal((await ok(['inspect', '-f', '{{.Config.StopTimeout}}', 'st'])).trim(), '1');
  const t0 = Date.now();
  await ok(['stop', 'st']);
  assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0}ms`);
  assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'st'])).trim(), '137');
  await ok(['rm', 'st']);
});

test('--health-cmd: probes make it healthy or unhealthy in ps, its filter, inspect and events; timeouts; start period; a restart starts again', async () => {
  await ok(['run', '-d', '--name', 'hok', '--health-cmd', 'echo fine; true', '--health-interval', '1s', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'hbad', '--health-cmd', 'echo bad >&2; exit 3', '--health-interval', '1s', '--health-retries', '2', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'hslow', '--health-cmd', 'sleep 5', '--health-interval', '1s', '--health-timeout', '500ms', '--health-retries', '1', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'hgrace', '--health-cmd', 'false', '--health-interval', '1s', '--health-start-period', '60s', 'busybox', 'sleep', '300']);
  await ok(['run', '-d', '--name', 'hnone', 'busybox', 'sleep', '300']);
  // before a first success (hok's first probe may have run already on a loaded host; hgrace's
  // failures don't count in its 60 s start period)
  assert.match(await ok(['ps', '--filter', 'name=hgrace', '--format', '{{.Status}}']), /^Up .* \(health: starting\)\n$/);
  await waitFor(async () => (await ok(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort().join(',') === 'hbad,hslow');
  await waitFor(async () => (await ok(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}'])) === 'hok\n');
  assert.match(await ok(['ps', '--filter', 'name=hok', '--format', '{{.Status}}']), /^Up .* \(healthy\)\n$/);
  assert.match(await ok(['ps', '--filter', 'name=hbad', '--format', '{{.Status}}']), /^Up .* \(unhealthy\)\n$/);
  assert.ok((await ok(['ps', '--filter', 'health=none', '--format', '{{.Names}}'])).split('\n').includes('hnone'));
  assert.equal(await ok(['ps', '--filter', 'health=starting', '--format', '{{.Names}}']), 'hgrace\n');
  const hok = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'hok'])) as { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string; Start: string; End: string }> };
  assert.equal(hok.Status, 'healthy');
  assert.equal(hok.FailingStreak, 0);
  assert.equal(hok.Log[0]!.ExitCode, 0);
  assert.equal(hok.Log[0]!.Output, 'fine\n');
  assert.ok(Date.parse(hok.Log[0]!.End) >= Date.parse(hok.Log[0]!.Start));
  const bad = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'hbad'])) as typeof hok;
  assert.ok(bad.FailingStreak >= 2);
  assert.deepEqual([bad.Log[0]!.ExitCode, bad.Log[0]!.Output], [3, 'bad\n']);
  const slow = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'hslow'])) as typeof hok;
  assert.deepEqual([slow.Log[0]!.ExitCode, slow.Log[0]!.Output], [-1, 'Health check exceeded timeout (500ms)']);
  const grace = JSON.parse(await ok(['inspect', '-f', '{{json .State.Health}}', 'hgrace'])) as typeof hok;
  assert.equal(grace.FailingStreak, 0);
  assert.equal((await ok(['inspect', '-f', '{{.State.Health}}', 'hnone'])).trim(), '<nil>');
  assert.deepEqual(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hbad'])),
    { Test: ['CMD-SHELL', 'echo bad >&2; exit 3'], Interval: 1e9, Retries: 2 });
  // until a moment ahead: "0s" is the current whole second (the CLI sends seconds), which can miss the latest
  const ev = await ok(['events', '--since', '2m', '--until', (Date.now() / 1000 + 1).toFixed(3), '--filter', 'event=health_status', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  assert.match(ev, /^health_status: healthy hok$/m);
  assert.match(ev, /^health_status: unhealthy hbad$/m);
  // a stopped container is unhealthy (dockerd's CloseMonitorChannel, at its exit: "for
  // compatibility reasons"), its log kept; a restart begins again at "starting"
  await ok(['stop', '-t', '0', 'hok']);
  assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.Health.Status}} {{len .State.Health.Log}}', 'hok'])).trim().replace(/ [1-9]\d*$/, ' N'), 'exited unhealthy N');
  await ok(['start', 'hok']);
  assert.equal((await ok(['inspect', '-f', '{{.State.Health.Status}}', 'hok'])).trim(), 'starting');
  assert.equal((await docker(d, ['run', '--rm', '--no-healthcheck', 'busybox', 'true'])).code, 0);
  const tiny = await docker(d, ['create', '--health-cmd', 'true', '--health-interval', '100us', 'busybox']);
  assert.match(tiny.stderr, /Error response from daemon: Interval in Healthcheck cannot be less than 1ms/);
  // commit keeps the healthcheck in the image; a container of it inherits it, with its own retries on top
  await ok(['commit', 'hbad', 'healthy-img:1']);
  assert.equal(JSON.parse(await ok(['image', 'inspect', '-f', '{{json .Config.Healthcheck.Test}}', 'healthy-img:1'])).join(' '), 'CMD-SHELL echo bad >&2; exit 3');
  await ok(['create', '--name', 'hinherit', '--health-retries', '5', 'healthy-img:1']);
  assert.deepEqual(JSON.parse(await ok(['inspect', '-f', '{{json .Config.Healthcheck}}', 'hinherit'])),
    { Test: ['CMD-SHELL', 'echo bad >&2; exit 3'], Interval: 1e9, Retries: 5 });
  await ok(['rm', '-f', 'hok', 'hbad', 'hslow', 'hgrace', 'hnone', 'hinherit']);
  await ok(['rmi', 'healthy-img:1']);
});
