// Docker Compose (Debian 12's docker-compose 1.29, docker-py over the Docker API) against
// tsulad: a project's network, named volume, healthcheck, published port, depends_on, logs,
// run, exec, --scale and down -v. Compose drives the API its own way (networks by labels,
// containers created with NetworkingConfig aliases, attach and logs streams): a stock
// client that is not the docker CLI; and docker-py, the SDK under it, reading exec output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { TestDaemon, waitFor, type RunResult } from '../helpers/daemon.js';
import { createTestNet, dockerNetConfig, type TestNet } from '../helpers/network.js';
import { dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { sh } from '../helpers/foreign-images.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-compose', { root: true, files: { '/usr/bin/docker-compose': 'docker-compose', '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/portmap': 'containernetworking-plugins' } });

const PROJECT = 'tsulacomp';
let tn: TestNet;
let d: TestDaemon;
let dir = '';
let port = 0;

/** A free TCP port on the host, for the project's published port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    }).on('error', reject);
  });
}

function compose(args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve) => {
    // compose runs `docker start -ai` and `docker exec` for run and exec: the stock CLI on PATH
    const env = { ...process.env, PATH: `${path.dirname(dockerCliPath())}:${process.env.PATH}`, DOCKER_HOST: `unix://${d.sock}`, DOCKER_CONFIG: path.join(dir, 'docker-config') };
    execFile('/usr/bin/docker-compose', ['-p', PROJECT, ...args], { cwd: dir, env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await compose(args);
  assert.equal(r.code, 0, `docker-compose ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve(b));
    }).on('error', reject);
  });
}

before(async () => {
  dockerCliPath();
  tn = await createTestNet('dcomp');
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn) });
  await d.loadBusybox();
  dir = path.join(d.dir, 'project');
  await fs.mkdir(path.join(dir, 'docker-config'), { recursive: true });
  port = await freePort();
  await fs.writeFile(path.join(dir, 'docker-compose.yml'), `version: "3.8"
services:
  web:
    image: busybox
    command: httpd -f -p 8080 -h /www
    volumes: [ "www:/www" ]
    ports: [ "127.0.0.1:${port}:8080" ]
    healthcheck:
      test: [ "CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:8080/" ]
      interval: 1s
      retries: 5
  seed:
    image: busybox
    command: sh -c 'echo hello from compose > /www/index.html'
    volumes: [ "www:/www" ]
  client:
    image: busybox
    depends_on: [ web, seed ]
    environment: { GREETING: hi }
    command: sh -c 'until wget -q -O - http://web:8080/; do sleep 0.2; done; nslookup web'
  linker:
    image: busybox
    links: [ "web:frontdoor" ]
    command: sh -c 'trap "exit 0" TERM; sleep 600 & wait'
volumes:
  www: {}
`);
});

after(async () => {
  if (d?.proc) await compose(['down', '-v', '--remove-orphans']).catch(() => undefined);
  await d?.destroy();
  await tn?.destroy();
});

test('up -d: the project network, its named volume, a healthy web reached by name and on its published port', async () => {
  await ok(['up', '-d']);
  // the network and the volume under the project's name and labels, as compose looks them up
  const nets = await d.ok(['network', 'ls', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Name}}']);
  assert.equal(nets.trim(), `${PROJECT}_default`);
  assert.match(await d.ok(['volume', 'ls', '--format', '{{.Name}}']), new RegExp(`^${PROJECT}_www$`, 'm'));
  await waitFor(async () => /\(healthy\)/.test(await ok(['ps', 'web'])), 30_000, 'web healthy');
  // the client found web by its service name (the network's DNS server and aliases)
  await waitFor(async () => /Name:\s+web/.test(await ok(['logs', '--no-color', 'client'])), 30_000, 'the client\'s nslookup of web');
  const logs = await ok(['logs', '--no-color', 'client']);
  assert.match(logs, /hello from compose/);
  assert.equal(await get(`http://127.0.0.1:${port}/`), 'hello from compose\n');
  const ps = await ok(['ps']);
  assert.match(ps, new RegExp(`${PROJECT}_seed_1 .*Exit 0`));
  assert.match(ps, new RegExp(`${PROJECT}_web_1 .*Up \\(healthy\\).*127\\.0\\.0\\.1:${port}->8080/tcp`));
  // compose connects web with its short id among the aliases: docker 20.10's inspect (API
  // 1.41) shows it once, as dockerd 20.10 appends it only when absent
  const web = (await d.ok(['ps', '-q', '--filter', 'label=com.docker.compose.service=web'])).trim();
  const aliases = JSON.parse(await dockerOk(d, ['inspect', '-f', `{{json (index .NetworkSettings.Networks "${PROJECT}_default").Aliases}}`, web])) as string[];
  assert.deepEqual([...aliases].sort(), [web.slice(0, 12), 'web'].sort());
});

test('run --rm and exec: a one-off container on the project network with its environment; a command in web', async () => {
  const run = await ok(['run', '--rm', 'client', 'sh', '-c', 'wget -q -O - http://web:8080/; echo "$GREETING"']);
  assert.match(run, /hello from compose\r?\n.*hi/s);
  assert.equal((await ok(['exec', '-T', 'web', 'cat', '/www/index.html'])).trim(), 'hello from compose');
  const code = await compose(['exec', '-T', 'web', 'sh', '-c', 'exit 3']);
  assert.equal(code.code, 3);
  // nothing of the one-off container is left
  assert.doesNotMatch(await d.ok(['ps', '-a', '--format', '{{.Names}}']), /client_run/);
});

test('links: run of a service with a running container (compose links the one-off to it), and a service\'s links: alias resolving', async () => {
  // compose 1.29 sends HostConfig.Links to web_1 on the project network: dockerd ignores them there
  assert.match(await ok(['run', '--rm', '--no-deps', 'web', 'sh', '-c', 'echo one-off; wget -q -O - http://web:8080/']), /one-off\r?\n.*hello from compose/s);
  // links: [ "web:frontdoor" ] goes with compose's network connect: an alias of linker's own
  const webIp = (await dockerOk(d, ['inspect', '-f', `{{(index .NetworkSettings.Networks "${PROJECT}_default").IPAddress}}`, `${PROJECT}_web_1`])).trim();
  const answer = await ok(['exec', '-T', 'linker', 'nslookup', 'frontdoor']);
  assert.match(answer, new RegExp(`Name:\\s+frontdoor\\s+Address(?: 1)?:\\s+${webIp.replace(/\./g, '\\.')}`), answer);
  const links = JSON.parse(await dockerOk(d, ['inspect', '-f', `{{json (index .NetworkSettings.Networks "${PROJECT}_default").Links}}`, `${PROJECT}_linker_1`])) as string[];
  assert.ok(links.includes(`${PROJECT}_web_1:frontdoor`), JSON.stringify(links));
  // nobody else's
  assert.notEqual((await compose(['run', '--rm', '--no-deps', 'client', 'nslookup', 'frontdoor'])).code, 0);
});

test('docker-py: containers.run returns the output (it reads logs of a json-file container only) or raises with the code', async () => {
  const script = `
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
print(c.containers.run('busybox', 'echo hello', remove=True).decode(), end='')
try:
    c.containers.run('busybox', 'sh -c "echo bad >&2; exit 3"', remove=True)
except docker.errors.ContainerError as e:
    print(e.exit_status, e.stderr.decode().strip())
`;
  // sh fails the test with python's stderr when the script does not exit 0
  assert.equal(await sh('/usr/bin/python3', ['-c', script, `unix://${d.sock}`]), 'hello\n3 bad\n');
});

test('docker-py, the SDK compose is built on: exec_start\'s raw socket gets every byte, run after run', async () => {
  // dockerd starts the process after the 101: docker-py reads the headers through a buffered
  // file and then the socket under it, so output sent with the headers would be lost
  const web = (await d.ok(['ps', '-q', '--filter', 'label=com.docker.compose.service=web'])).trim();
  const script = `
import docker, socket, sys
c = docker.APIClient(base_url=sys.argv[1])
short = 0
for i in range(20):
    e = c.exec_create(sys.argv[2], ['cat', '/etc/hostname'], stdin=True)
    s = c.exec_start(e['Id'], socket=True)._sock
    s.shutdown(socket.SHUT_WR)
    data = b''
    while True:
        b = s.recv(4096)
        if not b: break
        data += b
    short += len(data) != 8 + 13
print(short)
`;
  assert.equal((await sh('/usr/bin/python3', ['-c', script, `unix://${d.sock}`, web])).trim(), '0', 'execs whose output never reached the client');
});

test('up --scale web=2: the service name answers with both containers', async () => {
  // a scaled service can't share one published host port: the project without it
  const yml = path.join(dir, 'docker-compose.yml');
  await fs.writeFile(yml, (await fs.readFile(yml, 'utf8')).replace(/    ports: .*\n/, ''));
  await ok(['up', '-d', '--scale', 'web=2', 'web']);
  const ips = (await d.ok(['ps', '-q', '--filter', `label=com.docker.compose.service=web`])).trim().split('\n');
  assert.equal(ips.length, 2);
  const answer = await ok(['run', '--rm', '--no-deps', 'client', 'nslookup', 'web']);
  assert.equal(answer.split('\n').filter((l) => /^Address: \d+\.\d+\.\d+\.\d+/.test(l)).length, 2, answer);
});

test('up --force-recreate and events: compose 1.29 asks the server\'s API version (1.52) and still reads what it reads (image ContainerConfig, event ids)', async () => {
  // events streams until killed: read it while a service restarts
  const events = compose(['events', '--json'], 20_000);
  await new Promise((r) => setTimeout(r, 2000));
  await ok(['up', '-d', '--force-recreate', '--no-deps', 'web']);
  const r = await events;
  assert.doesNotMatch(r.stderr, /Traceback|KeyError/, r.stderr);
  const seen = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; service: string });
  // (compose reports the containers the project had when events started: the recreated ones' ends)
  assert.ok(seen.some((e) => e.service === 'web' && ['stop', 'die', 'destroy'].includes(e.action)), r.stdout);
});

test('down -v: containers, the network and the volume are gone', async () => {
  await ok(['down', '-v']);
  assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
  assert.doesNotMatch(await d.ok(['network', 'ls', '--format', '{{.Name}}']), new RegExp(PROJECT));
  assert.doesNotMatch(await d.ok(['volume', 'ls', '--format', '{{.Name}}']), new RegExp(PROJECT));
});
