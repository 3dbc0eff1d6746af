// Flag parsing with docker's rules, and the create body `run` sends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HelpRequested, parseArgs, UsageError } from '../../src/cli/args.js';
import { buildCreate } from '../../src/cli/commands/container-opts.js';
import { nanoCpus } from '../../src/cli/commands/resource-opts.js';
import { spec as execSpec } from '../../src/cli/commands/exec.js';
import { rmSpec } from '../../src/cli/commands/lifecycle.js';
import { runSpec, startExitCode } from '../../src/cli/commands/run.js';
import { filtersJson } from '../../src/cli/commands/ps.js';

const run = (...argv: string[]) => parseArgs(runSpec, argv);

describe('run flag parsing', () => {
  it('run -tid busybox /bin/sh: combined short flags', () => {
    const p = run('-tid', 'busybox', '/bin/sh');
    assert.equal(p.bool('tty'), true);
    assert.equal(p.bool('interactive'), true);
    assert.equal(p.bool('detach'), true);
    assert.deepEqual(p.args, ['busybox', '/bin/sh']);
  });

  it("run --rm busybox sh -c 'echo hi': flags after the image belong to the command", () => {
    const p = run('--rm', 'busybox', 'sh', '-c', 'echo hi');
    assert.equal(p.bool('rm'), true);
    assert.deepEqual(p.args, ['busybox', 'sh', '-c', 'echo hi']);
    const body = buildCreate(p, { detach: false, run: true }).body as Record<string, any>;
    assert.deepEqual(body.Cmd, ['sh', '-c', 'echo hi']);
    assert.equal(body.Image, 'busybox');
    assert.equal(body.HostConfig.AutoRemove, true);
    assert.equal(body.AttachStdout, true);
    assert.equal(body.AttachStdin, false);
  });

  it('a flag-looking word after IMAGE is not ours: run busybox ls -l --name', () => {
    const p = run('busybox', 'ls', '-l', '--name');
    assert.equal(p.has('name'), false);
    assert.deepEqual(p.args, ['busybox', 'ls', '-l', '--name']);
  });

  it('values: glued, separate, with =, repeated', () => {
    const p = run('-eA=1', '-e', 'B=2', '--env=C=3', '--name', 'web', '-v', '/h:/c:ro', '-p80:8080', '-m', '64m', 'img');
    assert.deepEqual(p.list('env'), ['A=1', 'B=2', 'C=3']);
    assert.equal(p.str('name'), 'web');
    assert.deepEqual(p.list('volume'), ['/h:/c:ro']);
    assert.deepEqual(p.list('publish'), ['80:8080']);
    assert.equal(p.str('memory'), '64m');
  });

  it('-it then a value flag in one token: -itw /tmp', () => {
    const p = run('-itw', '/tmp', 'img');
    assert.equal(p.bool('tty') && p.bool('interactive'), true);
    assert.equal(p.str('workdir'), '/tmp');
  });

  it('-h is --hostname for run (not help); --help asks for help', () => {
    assert.equal(run('-h', 'box', 'img').str('hostname'), 'box');
    assert.throws(() => run('--help'), HelpRequested);
  });

  it('unknown flags and missing values are usage errors (exit 125)', () => {
    assert.throws(() => run('--nope', 'img'), (e: UsageError) => e.message === 'unknown flag: --nope' && e.exitCode === 125);
    assert.throws(() => run('-Z', 'img'), /unknown shorthand flag: 'Z' in -Z/);
    assert.throws(() => run('img', '--name').args && run('--name'), /flag needs an argument/);
    assert.throws(() => run('--pids-limit', 'x', 'img'), /invalid argument "x" for "--pids-limit" flag/);
  });

  it('argument counts are checked (exit 1)', () => {
    assert.throws(() => run(), (e: UsageError) => /requires at least 1 argument/.test(e.message) && e.exitCode === 1);
  });

  it('other commands take flags anywhere: rm x -f', () => {
    const p = parseArgs(rmSpec, ['x', '-f', 'y']);
    assert.equal(p.bool('force'), true);
    assert.deepEqual(p.args, ['x', 'y']);
  });

  it('exec stops at the command: exec -it c sh -c "ls -l"', () => {
    const p = parseArgs(execSpec, ['-it', 'c', 'sh', '-c', 'ls -l']);
    assert.equal(p.bool('tty'), true);
    assert.deepEqual(p.args, ['c', 'sh', '-c', 'ls -l']);
  });

  it('-- ends flags', () => {
    assert.deepEqual(parseArgs(rmSpec, ['--', '-f']).args, ['-f']);
  });
});

describe('create body', () => {
  const body = (...argv: string[]) => buildCreate(run(...argv), { detach: run(...argv).bool('detach'), run: true }).body as Record<string, any>;

  it('-tid: detached, stdin open, nothing attached', () => {
    const b = body('-tid', 'busybox', '/bin/sh');
    assert.equal(b.Tty, true);
    assert.equal(b.OpenStdin, true);
    assert.equal(b.AttachStdin, false);
    assert.equal(b.AttachStdout, false);
    assert.equal(b.StdinOnce, false);
  });

  it('-i attached: StdinOnce like docker run', () => {
    const b = body('-i', 'busybox', 'cat');
    assert.equal(b.AttachStdin, true);
    assert.equal(b.StdinOnce, true);
  });

  it('--entrypoint "" resets the entrypoint to [""]', () => {
    assert.deepEqual(body('--entrypoint', '', 'img').Entrypoint, ['']);
    assert.deepEqual(body('--entrypoint', '/bin/sh -c', 'img').Entrypoint, ['/bin/sh -c']);
    assert.equal(body('img').Entrypoint, null);
    assert.equal(body('img').Cmd, null);
  });

  it('resources, runtime, network, annotations, labels, ulimits, binds', () => {
    const b = body('--runtime', 'io.containerd.tsula.v2', '--network', 'none', '--annotation', 'a=b',
      '--read-only', '-m', '64m', '--cpus', '0.5', '--pids-limit', '100', '--ulimit', 'nofile=1024:2048',
      '--ulimit', 'nproc=64', '-l', 'x=y', '--label', 'flag', '-v', '/src:/dst:ro', '-v', '/anon',
      '-u', '1000:1000', '-w', '/work', '--hostname', 'h', '-e', 'K=V', 'busybox');
    const h = b.HostConfig;
    assert.equal(h.Runtime, 'io.containerd.tsula.v2');
    assert.equal(h.NetworkMode, 'none');
    assert.deepEqual(h.Annotations, { a: 'b' });
    assert.equal(h.ReadonlyRootfs, true);
    assert.equal(h.Memory, 67108864);
    assert.equal(h.NanoCpus, 500000000);
    assert.equal(h.PidsLimit, 100);
    assert.deepEqual(h.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 64, Hard: 64 }]);
    assert.deepEqual(h.Binds, ['/src:/dst:ro']);
    assert.deepEqual(b.Volumes, { '/anon': {} });
    assert.deepEqual(b.Labels, { x: 'y', flag: '' });
    assert.equal(b.User, '1000:1000');
    assert.equal(b.WorkingDir, '/work');
    assert.equal(b.Hostname, 'h');
    assert.deepEqual(b.Env, ['K=V']);
  });

  it('defaults leave the daemon to choose: no Runtime key, NetworkMode "default"', () => {
    const h = body('img').HostConfig;
    assert.equal('Runtime' in h, false);
    assert.equal(h.NetworkMode, 'default');
    assert.equal(h.PidsLimit, null);
  });

  it('-e KEY takes the value from our environment', () => {
    process.env.TSULA_TEST_ENV = 'from-env';
    try {
      assert.deepEqual(body('-e', 'TSULA_TEST_ENV', '-e', 'UNSET_TSULA_X', 'img').Env, ['TSULA_TEST_ENV=from-env', 'UNSET_TSULA_X']);
    } finally {
      delete process.env.TSULA_TEST_ENV;
    }
  });

  it('-p publishes and exposes', () => {
    const b = body('-p', '127.0.0.1:8080:80', '-p', '53:53/udp', 'img');
    assert.deepEqual(b.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(b.HostConfig.PortBindings, {
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
      '53/udp': [{ HostIp: '', HostPort: '53' }],
    });
  });

  it('bad values are usage errors', () => {
    assert.throws(() => body('--ulimit', 'nofile=2048:1024', 'img'), /soft limit must be less than or equal to hard limit/);
    assert.throws(() => body('--ulimit', 'bogus=1', 'img'), /invalid ulimit type/);
    assert.throws(() => body('-m', 'lots', 'img'), /invalid size/);
    assert.throws(() => body('-a', 'stdout', '-d', 'img'), /Conflicting options: -a and -d/);
    assert.throws(() => body('--annotation', 'noeq', 'img'), /invalid key=value/);
  });

  it('--network as docker 28 sends it: several, the CSV form, legacy flags on the first; one plain name as 20.10', () => {
    const req = (...argv: string[]) => buildCreate(run(...argv), { detach: false, run: true });
    const ep = (o: Record<string, unknown>) => ({ IPAMConfig: null, Links: null, Aliases: null, MacAddress: '', DriverOpts: null, GwPriority: 0, ...o });
    // one plain name (or name=n alone): docker 20.10's body at the CLI's own version
    for (const n of ['n1', 'name=n1']) {
      const r = req('--network', n, 'img');
      assert.deepEqual([r.body.HostConfig, r.body.NetworkingConfig, r.apiVersion].map((x: any) => x?.NetworkMode ?? x),
        ['n1', { EndpointsConfig: {} }, undefined]);
    }
    let r = req('--network', 'name=a,alias=x,ip=10.1.2.3,mac-address=02:42:00:00:00:01,link-local-ip=169.254.1.1,driver-opt=k=v,gw-priority=5', '--network', 'b', 'img');
    assert.equal((r.body.HostConfig as any).NetworkMode, 'a');
    assert.deepEqual((r.body.NetworkingConfig as any).EndpointsConfig, {
      a: ep({ IPAMConfig: { IPv4Address: '10.1.2.3', IPv6Address: '', LinkLocalIPs: ['169.254.1.1'] }, Aliases: ['x'],
        MacAddress: '02:42:00:00:00:01', DriverOpts: { k: 'v' }, GwPriority: 5 }),
      b: ep({}),
    });
    assert.equal(r.apiVersion, '1.48');
    r = req('--network', 'a', '--network-alias', 'z', '--ip', '10.0.0.9', '--mac-address', '02:42:00:00:00:02', '--link', 'c:d', '--network', 'b', 'img');
    assert.deepEqual((r.body.NetworkingConfig as any).EndpointsConfig.a,
      ep({ IPAMConfig: { IPv4Address: '10.0.0.9', IPv6Address: '', LinkLocalIPs: null }, Aliases: ['z'], Links: ['c:d'], MacAddress: '02:42:00:00:00:02' }));
    assert.equal(r.body.MacAddress, undefined, 'the MAC goes to the first endpoint');
    assert.equal(r.apiVersion, '1.44');
    const refused = (re: RegExp, ...argv: string[]) => assert.throws(() => req(...argv, 'img'), re);
    refused(/^UsageError: invalid argument "name=a,foo=b" for "--network" flag: invalid field key foo$/, '--network', 'name=a,foo=b');
    refused(/flag: invalid field alias$/, '--network', 'name=a,alias');
    refused(/flag: network name\/id is not specified$/, '--network', 'alias=x');
    refused(/flag: invalid gw-priority \(x\): invalid syntax$/, '--network', 'name=a,gw-priority=x');
    refused(/^UsageError: zz is not a valid mac address$/, '--network', 'name=a,mac-address=zz');
    refused(/^UsageError: network "a" is specified multiple times$/, '--network', 'a', '--network', 'a');
    refused(/cannot attach both user-defined and non-user-defined network-modes$/, '--network', 'a', '--network', 'host');
    refused(/cannot specify both --network-alias and per-network alias$/, '--network', 'name=a,alias=x', '--network-alias', 'y');
    refused(/^UsageError: network-scoped aliases are only supported for user-defined networks$/, '--network', 'name=bridge,alias=x');
    // 20.10's refusal stays for one plain network
    refused(/^UsageError: network-scoped alias is supported only for containers in user defined networks$/, '--network', 'host', '--network-alias', 'q');
  });

  it('health flags as docker sends them: CMD-SHELL, nanoseconds, NONE; their refusals', () => {
    assert.equal(body('img').Healthcheck, undefined);
    assert.deepEqual(body('--health-cmd', 'exit 0', '--health-interval', '1m30s', '--health-timeout', '500ms', '--health-retries', '2', 'img').Healthcheck,
      { Test: ['CMD-SHELL', 'exit 0'], Interval: 90e9, Timeout: 5e8, StartPeriod: 0, StartInterval: 0, Retries: 2 });
    assert.deepEqual(body('--health-start-period', '2s', 'img').Healthcheck, { Test: null, Interval: 0, Timeout: 0, StartPeriod: 2e9, StartInterval: 0, Retries: 0 });
    assert.deepEqual(body('--health-start-interval', '250ms', 'img').Healthcheck,
      { Test: null, Interval: 0, Timeout: 0, StartPeriod: 0, StartInterval: 25e7, Retries: 0 });
    assert.throws(() => body('--health-start-interval', '-1s', 'img'), /--health-start-interval cannot be negative/);
    assert.deepEqual(body('--no-healthcheck', 'img').Healthcheck, { Test: ['NONE'] });
    assert.throws(() => body('--no-healthcheck', '--health-retries', '1', 'img'), /^UsageError: --no-healthcheck conflicts with --health-\* options$/);
    assert.throws(() => body('--health-interval', '-1s', 'img'), /--health-interval cannot be negative/);
    assert.throws(() => body('--health-timeout', '5', 'img'), /invalid argument "5" for "--health-timeout" flag: time: invalid duration "5"/);
  });

  it('create attaches stdout and stderr as run does; -i is StdinOnce; -d attaches nothing', () => {
    const c = buildCreate(parseArgs(runSpec, ['-i', 'img']), { detach: false, run: false }).body as Record<string, unknown>;
    assert.deepEqual([c.AttachStdin, c.AttachStdout, c.AttachStderr, c.OpenStdin, c.StdinOnce], [true, true, true, true, true]);
    const d = body('-di', 'img');
    assert.deepEqual([d.AttachStdin, d.AttachStdout, d.AttachStderr, d.OpenStdin, d.StdinOnce], [false, false, false, true, false]);
  });

  it('what docker\'s CLI leaves to the daemon goes as it is: a restart name, a -v spec', () => {
    assert.deepEqual(body('--restart', 'bogus', 'img').HostConfig.RestartPolicy, { Name: 'bogus', MaximumRetryCount: 0 });
    assert.deepEqual(body('--restart', 'on-failure:3', 'img').HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.throws(() => body('--restart', 'on-failure:x', 'img'), /^UsageError: maximum retry count must be an integer$/);
    assert.throws(() => body('--restart', 'a:1:2', 'img'), /^UsageError: invalid restart policy format$/);
    assert.deepEqual(body('-v', 'a:b:c:d', '-v', '/anon', 'img').HostConfig.Binds, ['a:b:c:d']);
    assert.deepEqual(body('-v', 'a:b:c:d', '-v', '/anon', 'img').Volumes, { '/anon': {} });
    const b = body('--mac-address', '92:d0:c6:0a:29:33', '--link', 'x:y', '--storage-opt', 'size=1G', '--device-cgroup-rule', 'c 1:3 r', 'img');
    assert.equal(b.MacAddress, '92:d0:c6:0a:29:33');
    assert.deepEqual([b.HostConfig.Links, b.HostConfig.StorageOpt, b.HostConfig.DeviceCgroupRules], [['x:y'], { size: '1G' }, ['c 1:3 r']]);
  });
});

describe('exit codes and filters', () => {
  it('start failures map to 125/126/127 like docker run', () => {
    assert.equal(startExitCode(new Error('exec: "nope": executable file not found in $PATH')), 127);
    assert.equal(startExitCode(new Error('open /bin/x: no such file or directory')), 127);
    assert.equal(startExitCode(new Error('exec /etc: permission denied')), 126);
    assert.equal(startExitCode(new Error('cgroup failure')), 125);
  });

  it('filters are sent as docker filters.Args JSON', () => {
    assert.equal(filtersJson(['status=exited', 'name=a', 'name=b']), '{"status":{"exited":true},"name":{"a":true,"b":true}}');
    assert.equal(filtersJson([]), undefined);
  });
});

describe('--cpus as docker parses it (a big.Rat, exact nanoCPUs)', () => {
  it('decimals, fractions and exponents; docker\'s words for what is not one', () => {
    assert.deepEqual(['0.5', '1.5', '3/2', '2e-1', '.25', '4'].map((v) => nanoCpus(v, 'run')), [5e8, 1.5e9, 1.5e9, 2e8, 2.5e8, 4e9]);
    assert.throws(() => nanoCpus('bogus', 'update'), /^UsageError: invalid argument "bogus" for "--cpus" flag: failed to parse bogus as a rational number$/);
    assert.throws(() => nanoCpus('1/0', 'run'), /failed to parse 1\/0 as a rational number/);
    assert.throws(() => nanoCpus('0.0000000001', 'run'), /invalid argument "0.0000000001" for "--cpus" flag: value is too precise/);
  });
});
