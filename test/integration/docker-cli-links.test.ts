// Links as dockerd takes them, from the stock docker CLI (20.10) and the raw API against
// tsulad: on a user network HostConfig.Links are ignored (dockerd's registerLinks) and
// EndpointSettings.Links become DNS aliases that only the linking container resolves
// (buildJoinOptions' CreateOptionAlias); legacy links (the default bridge's: /etc/hosts
// lines, variables, link names, `rm --link`) as dockerd makes them, and host and container
// modes get dockerd's conflicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { createTestNet, dockerNetConfig, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-links', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let tn: TestNet;
let d: TestDaemon;
let targetIp = '';
// sleep as PID 1 would ignore docker stop's SIGTERM
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; sleep 300 & wait'];

const ok = (args: string[]): Promise<string> => dockerOk(d, args);
const inspect = async (id: string, f: string) => (await ok(['inspect', '-f', f, id])).trim();
const api = (method: string, url: string, body?: unknown) => d.api(method, url, body === undefined ? undefined : JSON.stringify(body));

/** busybox nslookup's addresses of `name`, asked in container `c` (none when it fails). */
async function lookup(c: string, name: string): Promise<string[]> {
  const r = await docker(d, ['exec', c, 'nslookup', name]);
  if (r.code !== 0) return [];
  // the answer's addresses follow its "Name:" line (the server's come before)
  return [...r.stdout.split(/^Name:/m).slice(1).join('').matchAll(/^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)/gm)].map((m) => m[1]!);
}

before(async () => {
  dockerCliPath();
  tn = await createTestNet('dlnk');
  // dockerd 29's switch for the links' variables (docker-cli-net checks they are gone without it)
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn), env: { DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS: '1' } });
  await d.loadBusybox();
  await ok(['network', 'create', 'lnet']);
  await ok(['run', '-d', '--name', 'target', '--network', 'lnet', 'busybox', ...SLEEP]);
  targetIp = await inspect('target', '{{.NetworkSettings.Networks.lnet.IPAddress}}');
});

after(async () => {
  const nets = await fs.readdir(path.join(d?.graph ?? '/nonexistent', 'networks', 'records')).catch(() => [] as string[]);
  await d?.destroy();
  for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
  await tn?.destroy();
});

test('run --network NET --link target:db: db (and db.NET) resolve to target there, in that container only; inspect shows the link, HostConfig.Links none', async () => {
  await ok(['run', '-d', '--name', 'linker', '--network', 'lnet', '--link', 'target:db', 'busybox', ...SLEEP]);
  assert.deepEqual(await lookup('linker', 'db'), [targetIp]);
  assert.deepEqual(await lookup('linker', 'db.lnet'), [targetIp]);
  assert.deepEqual(await lookup('linker', 'target'), [targetIp], 'the names stay');
  await ok(['run', '-d', '--name', 'other', '--network', 'lnet', 'busybox', ...SLEEP]);
  assert.deepEqual(await lookup('other', 'db'), [], 'another container of the network has no such name');
  // dockerd: the endpoint's Links as given; HostConfig.Links lists legacy children only
  assert.equal(await inspect('linker', '{{json .NetworkSettings.Networks.lnet.Links}}'), '["target:db"]');
  assert.equal(await inspect('linker', '{{json .HostConfig.Links}}'), 'null');
  await ok(['rm', '-f', 'linker', 'other']);
});

test('network connect --link: the alias on that network for a running container; a bad link fails the join in dockerd\'s words, not the create', async () => {
  await ok(['network', 'create', 'lnet2']);
  await ok(['run', '-d', '--name', 'joiner', '--network', 'lnet2', 'busybox', ...SLEEP]);
  await ok(['network', 'connect', '--link', 'target:tgt', 'lnet', 'joiner']);
  assert.deepEqual(await lookup('joiner', 'tgt'), [targetIp]);
  assert.equal(await inspect('joiner', '{{json .NetworkSettings.Networks.lnet.Links}}'), '["target:tgt"]');
  // the CLI checks --link itself: the raw API's. dockerd parses links at the endpoint's join
  const created = await api('POST', '/v1.41/containers/create?name=badlink', {
    Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'lnet' }, NetworkingConfig: { EndpointsConfig: { lnet: { Links: ['a:b:c'] } } },
  });
  assert.equal(created.status, 201, created.body);
  const started = await api('POST', '/v1.41/containers/badlink/start');
  assert.equal(started.status, 500);
  assert.equal(JSON.parse(started.body).message, 'bad format for links: a:b:c');
  await ok(['network', 'disconnect', 'lnet', 'joiner']);
  const joined = await api('POST', '/v1.41/networks/lnet/connect', { Container: 'joiner', EndpointConfig: { Links: [''] } });
  assert.equal(joined.status, 500);
  assert.equal(JSON.parse(joined.body).message, 'empty string specified for links');
  assert.equal(await inspect('joiner', '{{json .NetworkSettings.Networks.lnet}}'), 'null', 'nothing of it left');
  await ok(['rm', '-f', 'joiner', 'badlink']);
});

test('HostConfig.Links: ignored on a user network (docker-compose run\'s create), dockerd\'s words for an endpoint\'s links on the default bridge and for host and container modes', async () => {
  // compose 1.29's one-off container links to its service's running ones
  const r = await api('POST', '/v1.41/containers/create?name=lnk1', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'lnet', Links: ['target:client'] } });
  assert.equal(r.status, 201, r.body);
  assert.equal(await inspect('lnk1', '{{json .HostConfig.Links}}'), 'null');
  assert.equal((await docker(d, ['start', '-a', 'lnk1'])).code, 0);
  await ok(['rm', 'lnk1']);
  for (const [body, msg] of [
    [{ HostConfig: { NetworkMode: 'bridge' }, NetworkingConfig: { EndpointsConfig: { bridge: { Links: ['target:x'] } } } }, /^links are only supported for user-defined networks$/],
    [{ HostConfig: { NetworkMode: 'host', Links: ['target:x'] } }, /^conflicting options: host type networking can't be used with links\. This would result in undefined behavior$/],
    [{ HostConfig: { NetworkMode: 'container:target', Links: ['target:x'] } }, /^conflicting options: container type network can't be used with links\. This would result in undefined behavior$/],
    // dockerd's registerLinks: a 400 (a 404 would have the CLI pull the image)
    [{ HostConfig: { Links: ['nope:x'] } }, /^could not get container for nope: No such container: nope$/],
  ] as const) {
    const r = await api('POST', '/v1.41/containers/create', { Image: 'busybox', ...body });
    assert.equal(r.status, 400, r.body);
    assert.match(JSON.parse(r.body).message, msg);
  }
  const connect = await api('POST', '/v1.41/networks/bridge/connect', { Container: 'target', EndpointConfig: { Links: ['target:x'] } });
  assert.equal(connect.status, 400, connect.body);
});

test('legacy --link on the default bridge: the child\'s /etc/hosts line and variables, the link\'s name in ps and inspect, rm --link, a stopped child fails the start, tsulad restarts keep it', async () => {
  await ok(['run', '-d', '--name', 'ldb', '-e', 'FOO=bar', '--expose', '6379', '--expose', '7000-7001/udp', 'busybox', ...SLEEP]);
  const ip = await inspect('ldb', '{{.NetworkSettings.IPAddress}}');
  const host = await inspect('ldb', '{{.Config.Hostname}}');
  await ok(['run', '-d', '--name', 'lapp', '--link', 'ldb:db', '-e', 'DB_ENV_FOO=mine', 'busybox', ...SLEEP]);
  const env = (await ok(['exec', 'lapp', 'env'])).split('\n');
  for (const v of [`DB_PORT=tcp://${ip}:6379`, `DB_PORT_6379_TCP_ADDR=${ip}`, 'DB_PORT_6379_TCP_PROTO=tcp', `DB_PORT_7000_UDP_END=udp://${ip}:7001`, 'DB_NAME=/lapp/db', 'DB_ENV_FOO=mine']) {
    assert.ok(env.includes(v), `${v} in ${env.join(' ')}`);
  }
  assert.ok(!env.includes('DB_ENV_FOO=bar'), 'the container\'s own env wins');
  const hosts = await ok(['exec', 'lapp', 'cat', '/etc/hosts']);
  assert.match(hosts, new RegExp(`^${ip.replaceAll('.', '\\.')}\tdb ${host} ldb$`, 'm'));
  assert.equal((await docker(d, ['exec', 'lapp', 'ping', '-c1', '-W5', 'db'])).code, 0, 'the alias reaches it');
  assert.equal(await inspect('lapp', '{{json .HostConfig.Links}}'), '["/ldb:/lapp/db"]');
  // the link is a name of the child's: ps shows the plain one unless --no-trunc, inspect takes it
  assert.match(await ok(['ps', '--no-trunc', '--filter', 'name=ldb', '--format', '{{.Names}}']), /^lapp\/db,ldb$/m);
  assert.match(await ok(['ps', '--filter', 'name=ldb', '--format', '{{.Names}}']), /^ldb$/m);
  assert.equal(await inspect('lapp/db', '{{.Name}}'), '/ldb');
  // the name filter is the container's own name (dockerd's list.go): `rm -f $(ps -aq -f name=lapp)` leaves ldb
  assert.equal((await ok(['ps', '-aq', '--no-trunc', '--filter', 'name=lapp'])).trim(), await inspect('lapp', '{{.Id}}'));
  // tsulad restarted: the link and its name are still there
  await d.stop();
  await d.start();
  assert.equal(await inspect('lapp/db', '{{.Name}}'), '/ldb');
  // dockerd's rmLink: a container's own name is not a link (and the container stays)
  const own = await docker(d, ['rm', '--link', 'ldb']);
  assert.notEqual(own.code, 0);
  assert.match(own.stderr, /Conflict, cannot remove the default link name of the container/);
  assert.equal(await inspect('ldb', '{{.State.Running}}'), 'true');
  // a stopped child fails an exec's create (dockerd's ContainerExecCreate makes the variables again) and the parent's start, in dockerd's words
  await ok(['stop', '-t', '1', 'ldb']);
  const ex = await docker(d, ['exec', 'lapp', 'true']);
  assert.notEqual(ex.code, 0);
  assert.match(ex.stderr, /Cannot link to a non running container: \/ldb AS \/lapp\/db/);
  await ok(['stop', '-t', '1', 'lapp']);
  const start = await docker(d, ['start', 'lapp']);
  assert.notEqual(start.code, 0);
  assert.match(start.stderr, /Cannot link to a non running container: \/ldb AS \/lapp\/db/);
  await ok(['start', 'ldb']);
  await ok(['start', 'lapp']);
  assert.match(await ok(['exec', 'lapp', 'cat', '/etc/hosts']), /\tdb /);
  assert.equal((await ok(['rm', '--link', 'lapp/db'])).trim(), 'lapp/db');
  assert.equal(await inspect('lapp', '{{json .HostConfig.Links}}'), 'null');
  assert.doesNotMatch(await ok(['exec', 'lapp', 'cat', '/etc/hosts']), /\tdb /, 'the line goes with the link');
  assert.equal(await inspect('ldb', '{{.State.Running}}'), 'true', 'the child stays');
  // a child on a user network only: the start fails as dockerd's isLinkable
  await ok(['create', '--name', 'lusr', '--link', 'target:t', 'busybox', 'true']);
  const usr = await docker(d, ['start', 'lusr']);
  assert.match(usr.stderr, /Cannot link to \/target, as it does not belong to the default network/);
  await ok(['rm', '-f', 'lapp', 'ldb', 'lusr']);
});

test('a removed child: its parent keeps the link (inspect lists it, the start fails in dockerd\'s words, a new container of that name does not take it) until tsulad restarts and links the name again', async () => {
  await ok(['run', '-d', '--name', 'gdb', 'busybox', ...SLEEP]);
  await ok(['run', '-d', '--name', 'gapp', '--link', 'gdb:db', 'busybox', ...SLEEP]);
  await ok(['stop', '-t', '1', 'gapp']);
  await ok(['rm', '-f', 'gdb']);
  assert.equal(await inspect('gapp', '{{json .HostConfig.Links}}'), '["/gdb:/gapp/db"]');
  const refused = /Cannot link to a non running container: \/gdb AS \/gapp\/db/;
  assert.match((await docker(d, ['start', 'gapp'])).stderr, refused);
  await ok(['run', '-d', '--name', 'gdb', 'busybox', ...SLEEP]);
  assert.match((await docker(d, ['start', 'gapp'])).stderr, refused, 'dockerd\'s link index holds the removed container');
  // dockerd's restore registers HostConfig.Links by name: the new gdb is the child now
  await d.stop();
  await d.start();
  await ok(['start', 'gapp']);
  const ip = await inspect('gdb', '{{.NetworkSettings.IPAddress}}');
  assert.match(await ok(['exec', 'gapp', 'cat', '/etc/hosts']), new RegExp(`^${ip.replaceAll('.', '\\.')}\tdb `, 'm'));
  assert.equal(await inspect('gapp/db', '{{.Name}}'), '/gdb');
  // no container of that name at the restart: the link is dropped (dockerd logs it) and the parent starts
  await ok(['stop', '-t', '1', 'gapp']);
  await ok(['rm', '-f', 'gdb']);
  await d.stop();
  await d.start();
  assert.equal(await inspect('gapp', '{{json .HostConfig.Links}}'), 'null');
  await ok(['start', 'gapp']);
  await ok(['rm', '-f', 'gapp']);
});
