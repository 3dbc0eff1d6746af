// docker-py (Debian's python3-docker, a stock client) against a private tsulad, on what its
// own integration suite checks and dockerd answers: swarm endpoints on a node in no swarm
// (503: leave_swarm(force) in every network test's tearDown), an exec's stream framed by the
// start's Tty, exec_create's `detachKeys` (Go's case-insensitive JSON keys), HostConfig.Isolation
// as given, unknown volume / logging drivers in dockerd's plugin words, and a commit racing
// its container's exit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { TestDaemon } from '../helpers/daemon.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-py', { root: true, files: { '/usr/lib/python3/dist-packages/docker/__init__.py': 'python3-docker', '/usr/sbin/runc': 'runc' } });

let d: TestDaemon;
before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => {
  await d?.destroy();
});

/** Run a docker-py script (APIClient as `api`, DockerClient as `client`); its stdout, parsed as JSON. */
function py(body: string): Promise<unknown> {
  const script = `
import json, socket, sys, time, docker
from docker.errors import APIError, NotFound
api = docker.APIClient(base_url='unix://' + sys.argv[1], version='auto')
client = docker.DockerClient(base_url='unix://' + sys.argv[1], version='auto')
out = {}
${body}
print(json.dumps(out))
`;
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', script, d.sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    let so = '';
    let se = '';
    p.stdout.on('data', (b: Buffer) => { so += b; });
    p.stderr.on('data', (b: Buffer) => { se += b; });
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python exited ${code}: ${se}`));
      try { resolve(JSON.parse(so)); } catch { reject(new Error(`python: ${so} ${se}`)); }
    });
  });
}

test('swarm endpoints on a node in no swarm: dockerd\'s 503s, so leave_swarm(force=True) passes and `service ls` says why', async () => {
  const r = await py(`
api.leave_swarm(force=True)  # ignores dockerd's 503
for f in (api.inspect_swarm, api.services, api.nodes, api.tasks):
    try:
        f(); out[f.__name__] = 'ok'
    except APIError as e:
        out[f.__name__] = [e.status_code, e.explanation]
try:
    api.leave_swarm(force=False); out['leave'] = 'ok'
except APIError as e:
    out['leave'] = [e.status_code, e.explanation]
`) as Record<string, [number, string]>;
  const notManager = [503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.'];
  for (const k of ['inspect_swarm', 'services', 'nodes', 'tasks']) assert.deepEqual(r[k], notManager, k);
  assert.deepEqual(r.leave, [503, 'This node is not part of a swarm']);
});

test('exec: the stream is framed by the start\'s Tty (a TTY exec started with tty=False is demuxed), and exec_create\'s detachKeys is the exec\'s', async () => {
  const r = await py(`
c = api.create_container('busybox', 'cat', detach=True, stdin_open=True)
api.start(c)
try:
    e = api.exec_create(c, ['sh', '-c', 'echo out; echo err >&2'], tty=True)
    out['demux'] = [x.decode() if x else None for x in api.exec_start(e, tty=False, demux=True)]
    api._general_configs['detachKeys'] = 'ctrl-p'
    e2 = api.exec_create(c, 'cat', stdin=True, tty=True, stdout=True)
    out['keys'] = api.exec_inspect(e2)['DetachKeys']
    sock = api.exec_start(e2, tty=True, socket=True)
    sock._sock.sendall(b'\\x10')
    sock._sock.settimeout(10)
    got = b''
    while True:
        b = sock._sock.recv(4096)
        if not b: break
        got += b
    out['detached'] = True
    out['running'] = api.exec_inspect(e2)['Running']
finally:
    api.remove_container(c, force=True)
`) as { demux: [string, string]; keys: string; detached: boolean; running: boolean };
  // a TTY's output is one stream (stdout); framed, it demuxes as stdout
  assert.equal(r.demux[0], 'out\r\nerr\r\n');
  assert.equal(r.demux[1], null);
  assert.equal(r.keys, Buffer.from([0x10]).toString('base64'));
  assert.deepEqual([r.detached, r.running], [true, true], 'ctrl-p alone detached; the exec runs on');
});

test('HostConfig.Isolation "default" is shown as given; unknown volume and logging drivers are dockerd\'s plugin lookups', async () => {
  const r = await py(`
c = api.create_container('busybox', ['echo'], host_config=api.create_host_config(isolation='default'))
out['isolation'] = api.inspect_container(c)['HostConfig']['Isolation']
api.remove_container(c)
try:
    api.create_volume('dpyvol', driver='foobar'); out['volume'] = 'ok'
except NotFound as e:
    out['volume'] = ['NotFound', e.explanation]
try:
    api.create_container('busybox', ['true'], host_config=api.create_host_config(log_config={'Type': 'asdf'})); out['log'] = 'ok'
except APIError as e:
    out['log'] = [e.status_code, e.explanation]
`) as { isolation: string; volume: [string, string]; log: [number, string] };
  assert.equal(r.isolation, 'default');
  assert.equal(r.volume[0], 'NotFound');
  assert.match(r.volume[1], /^error looking up volume plugin foobar: plugin "foobar" not found/);
  assert.equal(r.log[0], 400);
  assert.match(r.log[1], /^error looking up logging plugin asdf: plugin "asdf" not found/);
});

test('commit right after start of a container that exits at once (docker-py\'s CommitTest): a pause that finds it gone is no error, as dockerd\'s', async () => {
  const r = await py(`
ids = []
try:
    for i in range(8):
        c = api.create_container('busybox', ['touch', '/test'])
        ids.append(c['Id'])
        api.start(c)
        img = api.commit(c)
        ids.append(img['Id'])
    out['ok'] = True
except APIError as e:
    out['err'] = [e.status_code, e.explanation]
finally:
    for x in reversed(ids):
        try:
            (api.remove_image if x.startswith('sha256:') else api.remove_container)(x, force=True)
        except APIError:
            pass
`) as { ok?: boolean; err?: [number, string] };
  assert.deepEqual(r, { ok: true });
});

test('a network whose name has a space (dockerd takes it; docker-py\'s test_create_remove_network_with_space_in_name): made, joined, removed', async () => {
  const r = await py(`
net = api.create_network('py net 01')
try:
    c = api.create_container('busybox', ['sleep', '30'], host_config=api.create_host_config(network_mode='py net 01'))
    api.start(c)
    out['ip'] = api.inspect_container(c)['NetworkSettings']['Networks']['py net 01']['IPAddress']
    out['listed'] = [n['Name'] for n in api.networks(names=['py net 01'])]
    api.remove_container(c, force=True)
finally:
    api.remove_network(net['Id'])
out['gone'] = [n['Name'] for n in api.networks(names=['py net 01'])]
`) as { ip: string; listed: string[]; gone: string[] };
  assert.match(r.ip, /^\d+\.\d+\.\d+\.\d+$/);
  assert.deepEqual(r.listed, ['py net 01']);
  assert.deepEqual(r.gone, []);
});

test('link-local IPs of an endpoint (docker-py\'s test_create_with_linklocal_ips): on the interface as /16, in inspect\'s IPAMConfig; a bad one in dockerd\'s words', async () => {
  // (the test daemon has no default bridge: a user network, as the upstream test's other cases)
  const r = await py(`
net = api.create_network('pyll')
c = api.create_container('busybox', ['sleep', '30'],
    networking_config=api.create_networking_config({'pyll': api.create_endpoint_config(link_local_ips=['169.254.8.8'])}),
    host_config=api.create_host_config(network_mode='pyll'))
try:
    api.start(c)
    out['ipam'] = api.inspect_container(c)['NetworkSettings']['Networks']['pyll']['IPAMConfig']
    e = api.exec_create(c, ['ip', '-4', 'addr', 'show', 'dev', 'eth0'])
    out['addrs'] = api.exec_start(e).decode()
finally:
    api.remove_container(c, force=True)
    api.remove_network(net['Id'])
try:
    api.create_container('busybox', ['true'], networking_config=api.create_networking_config({'pyll': api.create_endpoint_config(link_local_ips=['not-an-ip'])}),
        host_config=api.create_host_config(network_mode='pyll'))
    out['bad'] = 'ok'
except APIError as e:
    out['bad'] = [e.status_code, e.explanation]
`) as { ipam: { LinkLocalIPs: string[] }; addrs: string; bad: [number, string] };
  assert.deepEqual(r.ipam.LinkLocalIPs, ['169.254.8.8']);
  assert.match(r.addrs, /inet 169\.254\.8\.8\/16 /);
  assert.deepEqual(r.bad, [400, 'invalid link-local IP address: not-an-ip']);
});

test('Go\'s JSON and names: an exec start\'s lowercase keys, --isolation in any case, swarm unlock\'s words, a network name tsulad keeps for CNI', async () => {
  const r = await py(`
c = api.create_container('busybox', ['sleep', '30'], host_config=api.create_host_config(isolation='DEFAULT'))
try:
    api.start(c)
    out['isolation'] = api.inspect_container(c)['HostConfig']['Isolation']
    e = api.exec_create(c, ['sleep', '2'])
    # {"detach": true}: Detach to Go's decoder, so the start answers at once
    res = api._post_json(api._url('/exec/{0}/start', e['Id']), data={'detach': True})
    out['detach'] = [res.status_code, api.exec_inspect(e)['Running']]
finally:
    api.remove_container(c, force=True)
try:
    api.unlock_swarm('SWMKEY-1-x'); out['unlock'] = 'ok'
except APIError as e:
    out['unlock'] = [e.status_code, e.explanation]
try:
    api.create_network('tsula-net-0123456789ab'); out['reserved'] = 'ok'
except APIError as e:
    out['reserved'] = [e.status_code, e.explanation]
`) as { isolation: string; detach: [number, boolean]; unlock: [number, string]; reserved: [number, string] };
  assert.equal(r.isolation, 'DEFAULT');
  assert.deepEqual(r.detach, [200, true]);
  assert.deepEqual(r.unlock, [503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.']);
  assert.equal(r.reserved[0], 400);
  assert.match(r.reserved[1], /names tsula-net-<12 hex digits> are tsulad's own/);
});
