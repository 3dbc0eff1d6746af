// `docker run` / `docker create` as dockerd does them, through the stock docker CLI: the
// image's config merged with the request's (Env, Entrypoint/Cmd, WorkingDir, User, Labels,
// StopSignal, Healthcheck, VOLUME, EXPOSE + -P), the run options seen from inside the
// container (/proc/self/status, limits, mounts, /dev, /etc/hosts, sysctls) and in inspect,
// and dockerd's words (exit 125) for values it refuses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { deriveBusybox } from '../helpers/docker-images.js';
import { createTestNet, dockerNetConfig, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-run-options', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/portmap': 'containernetworking-plugins' } });

let tn: TestNet;
let d: TestDaemon;

before(async () => {
  dockerCliPath();
  tn = await createTestNet('drun');
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn) });
  await d.loadBusybox();
  const tar = path.join(d.dir, 'cfg.tar');
  await deriveBusybox({
    tag: 'cfgimg:1',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=img', 'B=img'],
      Entrypoint: ['/bin/echo', 'ep'], Cmd: ['c1', 'c2'], WorkingDir: '/made/here',
      Labels: { 'l.img': '1', 'l.both': 'img' }, StopSignal: 'SIGUSR1',
      Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 30_000_000_000 },
      Volumes: { '/data': {} }, ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      Shell: ['/bin/ash', '-c'], OnBuild: ['RUN echo hi'],
    },
  }, tar);
  await ok(['load', '-i', tar]);
});

after(async () => {
  await d?.destroy();
  await tn?.destroy();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

/** A `docker run --rm busybox sh -c script` with run options before the image. */
async function inside(opts: string[], script: string, image = 'busybox'): Promise<string> {
  return ok(['run', '--rm', ...opts, image, 'sh', '-c', script]);
}

/** A refused run: the CLI's exit code and dockerd's message. */
async function refused(args: string[], message: RegExp, code = 125): Promise<void> {
  const r = await docker(d, args);
  assert.equal(r.code, code, `docker ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, message);
}

const inspect = async (name: string, format: string) => (await ok(['inspect', '--format', format, name])).trim();

test('the image config merged as dockerd merges it: Env by key, Entrypoint/Cmd, WorkingDir, Labels, StopSignal, Healthcheck, VOLUME, EXPOSE', async () => {
  assert.equal(await ok(['run', '--name', 'merge', '-e', 'A=run', '-e', 'C=run', '-l', 'l.both=run', 'cfgimg:1']), 'ep c1 c2\n');
  const cfg = JSON.parse(await inspect('merge', '{{json .Config}}')) as Record<string, unknown>;
  assert.deepEqual(cfg.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=run', 'B=img', 'C=run']);
  assert.deepEqual([cfg.Entrypoint, cfg.Cmd, cfg.WorkingDir, cfg.StopSignal], [['/bin/echo', 'ep'], ['c1', 'c2'], '/made/here', 'SIGUSR1']);
  assert.deepEqual(cfg.Labels, { 'l.img': '1', 'l.both': 'run' });
  assert.deepEqual(cfg.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 30_000_000_000 });
  assert.deepEqual(cfg.ExposedPorts, { '53/udp': {}, '80/tcp': {} });
  assert.deepEqual(cfg.Volumes, { '/data': {} });
  assert.equal(cfg.OnBuild, null); // an image's ONBUILD is the builder's, not the container's
  assert.equal(cfg.Shell, undefined);
  assert.match(await inspect('merge', '{{range .Mounts}}{{.Type}} {{.Destination}} {{len .Name}}{{end}}'), /^volume \/data 64$/);
  // a new entrypoint drops the image's Cmd; --entrypoint "" clears it; with nothing left, dockerd's error
  assert.equal(await ok(['run', '--rm', '--entrypoint', '/bin/echo', 'cfgimg:1']), '\n');
  assert.equal(await ok(['run', '--rm', '--entrypoint', '', 'cfgimg:1', 'pwd']), '/made/here\n');
  await refused(['run', '--rm', '--entrypoint', '', 'cfgimg:1'], /Error response from daemon: no command specified/);
  // the image's WORKDIR is made in the rootfs when missing, as -w's is
  assert.equal(await inside(['-w', '/new/dir', '-u', 'nobody'], 'pwd; stat -c %U /new/dir'), '/new/dir\nroot\n');
});

test('-P publishes every exposed port of the image; the ports are gone once it stops', async () => {
  await ok(['run', '-d', '--name', 'pall', '-P', '--entrypoint', 'sleep', 'cfgimg:1', '300']);
  const ports = JSON.parse(await inspect('pall', '{{json .NetworkSettings.Ports}}')) as Record<string, Array<{ HostIp: string; HostPort: string }>>;
  assert.deepEqual(Object.keys(ports).sort(), ['53/udp', '80/tcp']);
  for (const b of Object.values(ports)) assert.match(b[0]!.HostPort, /^\d+$/);
  assert.equal(await inspect('pall', '{{.HostConfig.PublishAllPorts}}'), 'true');
  await ok(['rm', '-f', 'pall']);
});

test('--cgroupns private: a cgroup namespace of its own, its cgroup its "/"; the default is dockerd\'s for this host\'s cgroup version', async () => {
  const { readlinkSync } = await import('node:fs');
  const hostNs = readlinkSync('/proc/self/ns/cgroup');
  const priv = (await inside(['--cgroupns', 'private'], 'readlink /proc/self/ns/cgroup; grep -c ":/$" /proc/self/cgroup')).split('\n');
  assert.notEqual(priv[0], hostNs);
  assert.ok(Number(priv[1]) >= 1, `its own cgroup is "/": ${priv.join(' ')}`);
  assert.equal((await inside(['--cgroupns', 'host'], 'readlink /proc/self/ns/cgroup')).trim(), hostNs);
  const id = (await ok(['create', '--cgroupns', 'private', 'busybox', 'true'])).trim();
  const dflt = (await ok(['create', 'busybox', 'true'])).trim();
  try {
    assert.equal((await ok(['inspect', '-f', '{{.HostConfig.CgroupnsMode}}', id])).trim(), 'private');
    assert.equal((await ok(['inspect', '-f', '{{.HostConfig.CgroupnsMode}}', dflt])).trim(), existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'private' : 'host');
  } finally {
    await ok(['rm', id, dflt]);
  }
});

test('User: uid, uid:gid, name:group, --group-add; a user or group the image lacks is dockerd\'s error', async () => {
  assert.equal(await inside(['-u', '1000:1001'], 'id -u; id -g; echo $HOME'), '1000\n1001\n/\n');
  assert.equal(await inside(['-u', 'nobody:nobody', '--group-add', '10', '--group-add', 'nobody'], 'grep -E "^(Uid|Gid|Groups)" /proc/self/status'),
    'Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t10 65534 \n');
  // the primary group is among the supplementary ones too (dockerd's getUser)
  assert.equal(await inside([], 'grep Groups /proc/self/status'), 'Groups:\t0 \n');
  assert.equal(await inside(['-u', '1000:1001'], 'grep Groups /proc/self/status'), 'Groups:\t1001 \n');
  // an exec's -u keeps the container's --group-add groups (dockerd's getUser)
  await ok(['run', '-d', '--name', 'grouped', '--group-add', '10', 'busybox', 'sleep', '300']);
  assert.equal((await ok(['exec', '-u', '0', 'grouped', 'id', '-G'])).trim().split(' ').sort().join(' '), '0 10');
  await ok(['rm', '-f', 'grouped']);
  await refused(['run', '--rm', '-u', 'nouser', 'busybox', 'true'], /unable to find user nouser: no matching entries in passwd file/);
  await refused(['run', '--rm', '--group-add', 'nogroup', 'busybox', 'true'], /unable to find group nogroup: no matching entries in group file/);
});

test('--init runs docker-init as PID 1 (Debian\'s tini-static); without one, dockerd\'s exec error (the CLI\'s 127)', async (t) => {
  if (existsSync('/usr/bin/tini-static')) {
    assert.match(await inside(['--init'], 'cat /proc/1/comm; ls /sbin/docker-init'), /^docker-init\n\/sbin\/docker-init\n$/);
  } else t.diagnostic('no tini-static on this host: only the missing init checked');
  const noInit = await TestDaemon.create({ configJson: { 'init-path': '/nonexistent/docker-init' } });
  try {
    await noInit.loadBusybox();
    const r = await docker(noInit, ['run', '--rm', '--init', 'busybox', 'true']);
    assert.equal(r.code, 127, r.stderr);
    assert.match(r.stderr, /Error response from daemon: exec: "\/nonexistent\/docker-init": stat \/nonexistent\/docker-init: no such file or directory/);
  } finally {
    await noInit.destroy();
  }
});

test('--read-only, --tmpfs with options, --ulimit, --pids-limit, --shm-size, --sysctl, --hostname/--domainname', async () => {
  const out = await inside([
    '--read-only', '--tmpfs', '/run:rw,noexec,nosuid,size=65536k', '--ulimit', 'nofile=1024:2048', '--pids-limit', '7', '--shm-size', '1m',
    '--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', 'kernel.shmmax=1000000', '--hostname', 'web', '--domainname', 'example.org',
  ], [
    'touch /x 2>/dev/null || echo ro', 'touch /run/x && echo run-rw', 'grep " /run " /proc/mounts | cut -d" " -f4', 'grep /dev/shm /proc/mounts | cut -d" " -f4',
    'ulimit -n; ulimit -Hn', 'cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null',
    'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax', 'hostname; cat /proc/sys/kernel/domainname', 'grep -c "web.example.org web$" /etc/hosts',
  ].join('; '));
  assert.equal(out, 'ro\nrun-rw\nrw,nosuid,nodev,noexec,relatime,size=65536k\nrw,nosuid,nodev,noexec,relatime,size=1024k\n1024\n2048\n7\n1\n1000000\nweb\nexample.org\n1\n');
  // a dotted --hostname: its first label too (libnetwork's hosts record)
  assert.match(await inside(['--hostname', 'a.b.c'], 'tail -1 /etc/hosts'), /\ta\.b\.c a\n$/);
  await ok(['create', '--name', 'hc', '--read-only', '--tmpfs', '/run:size=1m', '--ulimit', 'nofile=1024:2048', '--pids-limit', '7', '--shm-size', '1m', '--sysctl', 'net.ipv4.ip_forward=1', '--domainname', 'example.org', 'busybox']);
  assert.equal(await inspect('hc', '{{.HostConfig.ReadonlyRootfs}}|{{json .HostConfig.Tmpfs}}|{{json .HostConfig.Ulimits}}|{{.HostConfig.PidsLimit}}|{{.HostConfig.ShmSize}}|{{json .HostConfig.Sysctls}}|{{.Config.Domainname}}'),
    'true|{"/run":"size=1m"}|[{"Name":"nofile","Hard":2048,"Soft":1024}]|7|1048576|{"net.ipv4.ip_forward":"1"}|example.org');
  await refused(['run', '--rm', '--tmpfs', 'rel', 'busybox', 'true'], /mount path must be absolute/);
  await refused(['run', '--rm', '--tmpfs', '/', 'busybox', 'true'], /destination can't be '\/'/);
  await refused(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true'], /sysctl 'net\.ipv4\.ip_forward' not allowed in host network namespace/);
});

test('--device-cgroup-rule: a node made in the container opens with the rule, not without; a bad rule is dockerd\'s error', { skip: !existsSync('/dev/fuse') && 'no /dev/fuse on this host' }, async () => {
  const open = 'mknod /dev/f c 10 229 && exec 3<>/dev/f && echo opened';
  assert.equal((await inside(['--device-cgroup-rule', 'c 10:229 rwm'], open)).trim(), 'opened');
  assert.equal((await inside(['--device-cgroup-rule', 'c 10:* rwm'], open)).trim(), 'opened');
  const without = await docker(d, ['run', '--rm', 'busybox', 'sh', '-c', open]);
  assert.notEqual(without.code, 0);
  assert.match(without.stderr, /Operation not permitted/);
  assert.equal((await ok(['create', '--device-cgroup-rule', 'c 10:229 rwm', 'busybox'])).length > 0, true);
  const bad = await docker(d, ['create', '--device-cgroup-rule', 'x 1:2 rwm', 'busybox']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid device cgroup rule format|is not a valid device cgroup rule|invalid argument/);
});

test('--cap-add/--cap-drop (ALL), --privileged with the host\'s devices, --device, --security-opt', async () => {
  assert.equal(await inside(['--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN'], 'grep CapEff /proc/self/status'), 'CapEff:\t0000000000001000\n');
  await refused(['run', '--rm', '--cap-add', 'BOGUS', 'busybox', 'true'], /invalid CapAdd: unknown capability: "BOGUS"/);
  // dockerd gives a privileged container every device node of the host's /dev
  const node = ['loop0', 'loop-control', 'fuse', 'kvm', 'zero'].find((n) => existsSync(`/dev/${n}`) && !statSync(`/dev/${n}`).isDirectory());
  const priv = await inside(['--privileged'], `grep CapEff /proc/self/status; grep Seccomp: /proc/self/status; ls /dev/${node}; ls /dev | wc -l`);
  const [capEff, seccomp, dev, count] = priv.trim().split('\n');
  assert.equal(capEff, `CapEff:\t${(await fs.readFile('/proc/self/status', 'utf8')).match(/CapBnd:\t(\w+)/)![1]}`);
  assert.equal(seccomp, 'Seccomp:\t0');
  assert.equal(dev, `/dev/${node}`);
  assert.ok(Number(count) > 20 || readdirSync('/dev').length < 30, `only ${count} entries in a privileged /dev`);
  assert.match(await inside(['--device', '/dev/zero:/dev/myzero:r'], 'ls -l /dev/myzero'), /^c.* 1, +5 .*\/dev\/myzero\n$/);
  await refused(['run', '--rm', '--device', '/dev/nonexistent', 'busybox', 'true'], /error gathering device information while adding custom device "\/dev\/nonexistent": no such file or directory/, 127);
  // a profile file: the CLI sends its JSON, which the container runs under
  const profile = path.join(d.dir, 'seccomp.json');
  await fs.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
  assert.equal(await inside(['--security-opt', `seccomp=${profile}`], 'mkdir /x 2>/dev/null || echo denied'), 'denied\n');
  assert.equal(await inside(['--security-opt', 'seccomp=unconfined'], 'grep Seccomp: /proc/self/status'), 'Seccomp:\t0\n');
  assert.equal(await inside(['--security-opt', 'no-new-privileges', '--security-opt', 'label=disable', '--security-opt', 'apparmor=unconfined'], 'grep NoNewPrivs /proc/self/status'), 'NoNewPrivs:\t1\n');
  assert.equal(await inside(['--security-opt', 'no-new-privileges=false'], 'grep NoNewPrivs /proc/self/status'), 'NoNewPrivs:\t0\n');
  await refused(['run', '--rm', '--security-opt', 'bogus=1', 'busybox', 'true'], /Error response from daemon: invalid --security-opt 2: "bogus=1"/);
});

test('dockerd\'s defaults and their overrides: /proc/interrupts masked, systempaths=unconfined and the API\'s MaskedPaths, the unprivileged-port sysctls, --init only in a PID namespace of its own, --device DIR, -v /dev:/dev', async () => {
  // moby 28's masked paths (GHSA-6fw5-f8r9-fgfm), and none with systempaths=unconfined (the CLI sends [] for both lists)
  assert.equal(await inside([], 'wc -c < /proc/interrupts; mount | grep -c -E " /proc/(keys|sys) "'), '0\n2\n');
  assert.equal(await inside(['--security-opt', 'systempaths=unconfined'], 'head -c 1 /proc/interrupts | wc -c; mount | grep -c -E " /proc/(keys|sys) " || true'), '1\n0\n');
  assert.equal(await inspect((await ok(['create', '--security-opt', 'systempaths=unconfined', 'busybox'])).trim(), '{{json .HostConfig.MaskedPaths}} {{json .HostConfig.ReadonlyPaths}} {{json .HostConfig.SecurityOpt}}'), '[] [] null');
  // the API's own lists replace the defaults
  const created = await d.api('POST', '/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['sh', '-c', 'wc -c < /etc/group; mount | grep -c " /proc/keys " || true'], HostConfig: { MaskedPaths: ['/etc/group'], ReadonlyPaths: [] } }), { 'Content-Type': 'application/json' });
  assert.equal(created.status, 201, created.body);
  const id = (JSON.parse(created.body) as { Id: string }).Id;
  await ok(['start', id]);
  assert.equal((await ok(['wait', id])).trim(), '0');
  assert.equal(await ok(['logs', id]), '0\n0\n');
  assert.equal(await inspect(id, '{{json .HostConfig.MaskedPaths}}'), '["/etc/group"]');
  await ok(['rm', id]);
  // a non-root process binds :80 and pings on a network of its own (dockerd's WithCommonOptions); not on the host's
  assert.equal(await inside(['--user', '1000:1000'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; nc -l -p 80 & sleep 0.3; kill $! && echo bound'), '0\n0\t2147483647\nbound\n');
  assert.equal(await inside(['--network', 'none', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=500'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start'), '500\n');
  assert.equal(await inside(['--network', 'host'], 'cat /proc/sys/net/ipv4/ip_unprivileged_port_start'), (await fs.readFile('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')));
  // --init with the host's PID namespace: no docker-init (it would not be PID 1)
  const r = await docker(d, ['run', '--rm', '--init', '--pid', 'host', 'busybox', 'sh', '-c', 'tr "\\0" " " < /proc/$PPID/cmdline']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /docker-init|tini/i);
  assert.equal(await inside(['--init'], 'tr "\\0" " " < /proc/1/cmdline'), '/sbin/docker-init -- sh -c tr "\\0" " " < /proc/1/cmdline ');
  // --device DIR: each node under it; a directory without one is dockerd's error
  if (existsSync('/dev/net/tun')) assert.match(await inside(['--device', '/dev/net:/dev/mynet'], 'ls -l /dev/mynet'), /^c.* 10, +200 .*tun\n$/m);
  await refused(['run', '--rm', '--device', '/etc', 'busybox', 'true'], /error gathering device information while adding custom device "\/etc": not a device node/, 125);
  // -v /dev:/dev: the host's /dev with its own pts, shm and mqueue, none of the runtime's under it
  const hostDevMounts = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => /^\S+ \S+ \S+ \S+ \/dev\/(pts|shm|mqueue) /.test(l)).length;
  assert.equal(await inside(['-v', '/dev:/dev'], 'mount | grep -c -E " on /dev/(pts|shm|mqueue) " || true'), `${hostDevMounts}\n`);
});

test('--dns, --dns-search, --dns-option, --add-host (host-gateway) write resolv.conf and hosts', async () => {
  const out = await inside(['--dns', '1.2.3.4', '--dns-search', 'example.com', '--dns-option', 'ndots:2', '--add-host', 'foo:5.6.7.8', '--add-host', 'gw:host-gateway'],
    'cat /etc/resolv.conf; grep -E "\\s(foo|gw)$" /etc/hosts');
  // dockerd 25+'s file: its header, the directives, where they came from
  assert.equal(out, '# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further changes once it\n# has been modified.\n\nnameserver 1.2.3.4\nsearch example.com\noptions ndots:2\n\n'
    + "# Based on host file: '/etc/resolv.conf' (legacy)\n# Overrides: [nameservers search options]\n# Option ndots from: override\n"
    + `5.6.7.8\tfoo\n${tn.gateway}\tgw\n`);
  await refused(['run', '--rm', '--add-host', 'foo:bad', 'busybox', 'true'], /invalid IP address in add-host: "bad"/);
});

test('--restart: on-failure:N counts its restarts in RestartCount; dockerd\'s refusals', async () => {
  await ok(['run', '-d', '--name', 'rf', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3']);
  await waitFor(async () => (await inspect('rf', '{{.RestartCount}} {{.State.Status}}')) === '2 exited', 20_000);
  assert.equal(await inspect('rf', '{{.State.ExitCode}} {{json .HostConfig.RestartPolicy}}'), '3 {"Name":"on-failure","MaximumRetryCount":2}');
  await ok(['create', '--name', 'us', '--restart', 'unless-stopped', 'busybox']);
  assert.equal(await inspect('us', '{{json .HostConfig.RestartPolicy}}'), '{"Name":"unless-stopped","MaximumRetryCount":0}');
  await refused(['run', '--restart', 'bogus', 'busybox', 'true'], /invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'/);
  await refused(['run', '--restart', 'always:3', 'busybox', 'true'], /invalid restart policy: maximum retry count can only be used with 'on-failure'/);
  // docker update --restart: the next exit follows the new policy; dockerd's refusals
  await ok(['update', '--restart', 'on-failure:1', 'us']);
  assert.equal(await inspect('us', '{{json .HostConfig.RestartPolicy}}'), '{"Name":"on-failure","MaximumRetryCount":1}');
  await ok(['run', '-d', '--name', 'upd', 'busybox', 'sh', '-c', 'sleep 1; exit 4']);
  await ok(['update', '--restart', 'on-failure:1', 'upd']);
  await waitFor(async () => (await inspect('upd', '{{.RestartCount}} {{.State.Status}}')) === '1 exited', 20_000);
  await refused(['update', '--restart', 'always:3', 'us'], /invalid restart policy: maximum retry count can only be used with 'on-failure'/, 1);
  await ok(['create', '--rm', '--name', 'auto', 'busybox']);
  await refused(['update', '--restart', 'always', 'auto'], /Restart policy cannot be updated because AutoRemove is enabled for the container/, 1);
  // between two restarts (no runc container): the update is kept, as dockerd's, and ends the loop
  await ok(['run', '-d', '--name', 'loop', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3; exit 1']);
  await waitFor(async () => (await inspect('loop', '{{.State.Status}}')) === 'restarting', 20_000, 'loop to be restarting');
  await ok(['update', '--restart', 'no', '-m', '64m', '--memory-swap', '128m', 'loop']);
  assert.equal(await inspect('loop', '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.Memory}}'), `no ${64 << 20}`);
  await waitFor(async () => (await inspect('loop', '{{.State.Status}}')) === 'exited', 20_000, 'the loop to end');
  // --pids-limit 0 / -1 lifts the limit: 0 in inspect (dockerd's update; a create's is null)
  await ok(['run', '-d', '--name', 'pl', '--pids-limit', '32', 'busybox', 'sleep', '100']);
  await ok(['update', '--pids-limit', '-1', 'pl']);
  assert.equal(await inspect('pl', '{{json .HostConfig.PidsLimit}}'), '0');
  assert.equal((await ok(['exec', 'pl', 'sh', '-c', 'cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; true'])).trim(), 'max');
  await ok(['rm', '-f', 'auto', 'upd', 'loop', 'pl']);
});

test('--log-driver none: no log file, and docker logs is dockerd\'s error; json-file reads back', async () => {
  await ok(['run', '--name', 'nolog', '--log-driver', 'none', 'busybox', 'echo', 'hi']);
  assert.equal(await inspect('nolog', '{{.HostConfig.LogConfig.Type}}|{{.LogPath}}'), 'none|');
  await refused(['logs', 'nolog'], /Error response from daemon: configured logging driver does not support reading/, 1);
  await ok(['run', '--name', 'jlog', '--log-driver', 'json-file', 'busybox', 'echo', 'hi']);
  assert.equal(await ok(['logs', 'jlog']), 'hi\n');
  // local: the same file, with local's bounds (20m x 5 files unless given) and options
  await ok(['run', '--name', 'llog', '--log-driver', 'local', 'busybox', 'echo', 'hi']);
  assert.equal(await ok(['logs', 'llog']), 'hi\n');
  assert.equal(await inspect('llog', '{{.HostConfig.LogConfig.Type}}'), 'local');
  await refused(['run', '--rm', '--log-driver', 'local', '--log-opt', 'labels=a', 'busybox', 'true'], /unknown log opt 'labels' for local log driver/);
  await ok(['rm', 'llog']);
});

test('--env-file, --label-file, --cidfile (an existing one is the CLI\'s error), ContainerIDFile', async () => {
  const envFile = path.join(d.dir, 'env');
  const labelFile = path.join(d.dir, 'labels');
  const cid = path.join(d.dir, 'cid');
  await fs.writeFile(envFile, 'E1=a\n# comment\nE3=x y\n');
  await fs.writeFile(labelFile, 'l1=a\n');
  assert.equal(await ok(['run', '--name', 'files', '--cidfile', cid, '--env-file', envFile, '--label-file', labelFile, 'busybox', 'sh', '-c', 'echo "$E1|$E3"']), 'a|x y\n');
  assert.equal(await inspect('files', '{{.Id}}|{{.HostConfig.ContainerIDFile}}|{{.Config.Labels.l1}}'), `${(await fs.readFile(cid, 'utf8')).trim()}|${cid}|a`);
  await refused(['run', '--cidfile', cid, 'busybox', 'true'], /container ID file found, make sure the other container isn't running or delete/);
});

test('resources: --memory-swap (2x memory by default), --cpus, --cpuset-cpus, --oom-kill-disable; dockerd\'s range errors', async () => {
  await ok(['create', '--name', 'res', '-m', '32m', '--cpus', '0.5', '--cpuset-cpus', '0', '--oom-kill-disable', 'busybox']);
  assert.equal(await inspect('res', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpusetCpus}} {{.HostConfig.OomKillDisable}}'),
    '33554432 67108864 500000000 0 true');
  await refused(['run', '--rm', '-m', '32m', '--memory-swap', '16m', 'busybox', 'true'], /Minimum memoryswap limit should be larger than memory limit, see usage/);
  await refused(['run', '--rm', '--cpus', '1000', 'busybox', 'true'], /Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/);
  await refused(['run', '--rm', '--cpuset-cpus', '999', 'busybox', 'true'], /Requested CPUs are not available - requested 999, available: /);
});

test('namespaces and the rest: --pid/--ipc/--uts host, --isolation, --platform; dockerd\'s words for bad values', async () => {
  const hostNs = async (ns: string) => fs.readlink(`/proc/self/ns/${ns}`);
  assert.equal(await inside(['--pid', 'host', '--ipc', 'host'], 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc'), `${await hostNs('pid')}\n${await hostNs('ipc')}\n`);
  await refused(['run', '--rm', '--uts', 'host', '--hostname', 'x', 'busybox', 'true'], /conflicting options: hostname and the UTS mode/);
  await refused(['run', '--rm', '--ipc', 'bogus', 'busybox', 'true'], /Error response from daemon: invalid IPC mode: bogus/);
  await refused(['run', '--rm', '--isolation', 'hyperv', 'busybox', 'true'], /Invalid isolation: "hyperv" - linux only supports 'default'/);
  assert.equal(await ok(['run', '--rm', '--isolation', 'default', 'busybox', 'echo', 'ok']), 'ok\n');
  const arch = (await inspect('busybox', '{{.Architecture}}')) === 'amd64' ? 'arm64' : 'amd64';
  await refused(['create', '--pull', 'never', '--platform', `linux/${arch}`, 'busybox'], new RegExp(`its platform \\(linux/[a-z0-9]+\\) does not match the specified platform \\(linux/${arch}\\)`), 1);
});

test('--pid container:<x> and --ipc container:<x> join that container\'s namespaces (a shareable one\'s /dev/shm too); dockerd\'s refusals', async () => {
  await ok(['run', '-d', '--name', 'donor', '--ipc', 'shareable', 'busybox', 'sh', '-c', 'echo shared > /dev/shm/x; exec sleep 300']);
  await ok(['run', '-d', '--name', 'private', 'busybox', 'sleep', '300']);
  try {
    const pid = (await inspect('donor', '{{.State.Pid}}')).trim();
    const nsOf = (ns: string) => fs.readlink(`/proc/${pid}/ns/${ns}`);
    assert.equal(await inside(['--pid', 'container:donor', '--ipc', 'container:donor'], 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; cat /dev/shm/x; ps -o comm | grep -c sleep'),
      `${await nsOf('pid')}\n${await nsOf('ipc')}\nshared\n1\n`);
    assert.equal(await inspect('donor', '{{.HostConfig.IpcMode}}'), 'shareable');
    await ok(['create', '--name', 'joiner', '--pid', 'container:donor', '--ipc', 'container:donor', 'busybox', 'true']);
    assert.equal(await inspect('joiner', '{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}'), 'container:donor container:donor');
    await refused(['run', '--rm', '--ipc', 'container:private', 'busybox', 'true'], /can't join IPC of container private: non-shareable IPC \(hint: use IpcMode:shareable for the donor container\)/);
    // dockerd 28+: a missing donor is a create's 400, a stopped one the start's 500 (moby's TestPIDModeContainer)
    await refused(['run', '--rm', '--pid', 'container:nosuch', 'busybox', 'true'], /No such container: nosuch/);
    assert.equal((await d.api('POST', '/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { PidMode: 'container:nosuch' } }))).status, 400);
    // a VM's namespaces are its guest's: refused before any VM boots
    await refused(['run', '--rm', '--runtime', 'vmm', '--pid', 'container:donor', 'busybox', 'true'], /--pid container:donor: container \S+ runs in a VM \(runtime vmm\), whose namespaces are its guest kernel's/);
    await ok(['stop', '-t', '0', 'donor']);
    await refused(['start', 'joiner'], /failed to join PID namespace: container [0-9a-f]{64} is not running/, 1);
    // the donor's /dev/shm tmpfs goes with its run
    await waitFor(async () => !(await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').some((l) => l.includes(d.state) && / tmpfs /.test(l) && l.includes('/shm ')), 10_000);
  } finally {
    await ok(['rm', '-f', 'donor', 'private', 'joiner']);
  }
});
