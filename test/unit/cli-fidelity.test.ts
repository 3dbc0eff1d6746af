// tsula's CLI as docker's: progress drawn as docker's jsonmessage draws it (on a terminal of
// any width), templates on docker's Go structs, the management groups' help, history and
// system df as docker's formatters print them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { displayJsonMessages, JsonMessageError, progressString } from '../../src/cli/jsonmessage.js';
import { CONTAINER_JSON, IMAGE_INSPECT, INFO, typed, VERSION_INFO } from '../../src/cli/gotypes.js';
import { Template } from '../../src/cli/template.js';
import { historyRow } from '../../src/cli/commands/history.js';
import { summaryRows } from '../../src/cli/commands/df.js';
import { renderScreen } from '../helpers/screen.js';

const TSULA = fileURLToPath(new URL('../../src/bin/tsula.js', import.meta.url));

const L1 = '9b7817e98800';
const L2 = '512194b6a0ba';
const PULL = [
  { status: 'Pulling from layered', id: 'latest' },
  { status: 'Already exists', progressDetail: {}, id: 'daf42ade690a' },
  { status: 'Pulling fs layer', progressDetail: {}, id: L1 },
  { status: 'Pulling fs layer', progressDetail: {}, id: L2 },
  { status: 'Downloading', progressDetail: { current: 100_000, total: 2_100_000 }, progress: '[=>   ]', id: L1 },
  { status: 'Downloading', progressDetail: { current: 50_000, total: 990_000 }, progress: '[=>   ]', id: L2 },
  { status: 'Download complete', progressDetail: {}, id: L2 },
  { status: 'Downloading', progressDetail: { current: 2_100_000, total: 2_100_000 }, id: L1 },
  { status: 'Download complete', progressDetail: {}, id: L1 },
  { status: 'Extracting', progressDetail: { current: 1_000_000, total: 2_100_000 }, id: L1 },
  { status: 'Pull complete', progressDetail: {}, id: L1 },
  { status: 'Extracting', progressDetail: { current: 990_000, total: 990_000 }, id: L2 },
  { status: 'Pull complete', progressDetail: {}, id: L2 },
  { status: `Digest: sha256:${'0f'.repeat(32)}` },
  { status: 'Status: Downloaded newer image for 127.0.0.1:5000/layered:latest' },
];

async function draw(msgs: unknown[], o: { tty: boolean; width?: number }): Promise<string> {
  let out = '';
  const sink = new Writable({ write(c, _e, cb) { out += String(c); cb(); } });
  await displayJsonMessages(Readable.from(msgs.map((m) => `${JSON.stringify(m)}\n`)), { out: sink, tty: o.tty, width: o.width });
  return out;
}

describe('pull progress (docker 20.10 jsonmessage)', () => {
  const FINAL = [
    'latest: Pulling from layered',
    'daf42ade690a: Already exists',
    `${L1}: Pull complete`,
    `${L2}: Pull complete`,
  ];

  it('on a 60-column terminal: a line per layer, rewritten in place; Digest and Status below', async () => {
    const out = await draw(PULL, { tty: true, width: 60 });
    const screen = renderScreen(out, 60);
    assert.deepEqual(screen.slice(0, 4), FINAL, out);
    // the Digest line is 79 characters: the terminal wraps it (nothing moves the cursor after it)
    assert.equal(screen.slice(4, 6).join(''), `Digest: sha256:${'0f'.repeat(32)}`);
    assert.equal(screen.slice(6).join(''), 'Status: Downloaded newer image for 127.0.0.1:5000/layered:latest');
    // no bar below 111 columns, the numbers only (docker's JSONProgress.String)
    assert.ok(out.includes(`${L1}: Downloading    100kB/2.1MB\r`), out);
    assert.ok(!out.includes('[='), out);
  });

  it('on a narrow terminal a layer line is cut, so it never wraps and the cursor math holds', async () => {
    const out = await draw(PULL, { tty: true, width: 24 });
    const screen = renderScreen(out, 24);
    assert.deepEqual(screen.slice(0, 5), ['latest: Pulling from lay', 'ered', 'daf42ade690a: Already ex', `${L1}: Pull compl`, `${L2}: Pull compl`]);
    assert.ok(screen[5]!.startsWith('Digest: '), screen.join('\n'));
  });

  it('on a terminal that says no size (0 columns: script(1), some CI ptys) the layer lines are whole, as docker draws them', async () => {
    const out = await draw(PULL, { tty: true, width: 0 });
    assert.deepEqual(renderScreen(out, 200).slice(0, 4), FINAL, out);
    assert.ok(out.includes(`${L1}: Downloading    100kB/2.1MB\r`), out);
  });

  it('on a wide terminal the bar is drawn; the final screen is the same', async () => {
    const out = await draw(PULL, { tty: true, width: 150 });
    assert.ok(out.includes(`${L1}: Downloading [==>${' '.repeat(48)}]    100kB/2.1MB\r`), out);
    assert.deepEqual(renderScreen(out, 150).slice(0, 4), FINAL);
  });

  it('not a terminal: the lines without progress, in order, as docker prints to a pipe', async () => {
    const out = await draw(PULL, { tty: false });
    assert.deepEqual(out.trimEnd().split('\n'), [
      'latest: Pulling from layered', 'daf42ade690a: Already exists', `${L1}: Pulling fs layer`, `${L2}: Pulling fs layer`,
      `${L2}: Download complete`, `${L1}: Download complete`, `${L1}: Pull complete`, `${L2}: Pull complete`,
      `Digest: sha256:${'0f'.repeat(32)}`, 'Status: Downloaded newer image for 127.0.0.1:5000/layered:latest',
    ]);
  });

  it('an error in the stream is thrown; 401 says authentication is required', async () => {
    await assert.rejects(draw([{ errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' }], { tty: true }), JsonMessageError);
    await assert.rejects(draw([{ errorDetail: { code: 401, message: 'x' } }], { tty: false }), { message: 'authentication is required' });
  });

  it("JSONProgress.String's pieces", () => {
    assert.equal(progressString({}, 200), '');
    assert.equal(progressString({ current: 1500 }, 200), '   1.5kB');
    assert.equal(progressString({ current: 3, total: 2 }, 80), '      3B');
    assert.equal(progressString({ current: 50, total: 100, start: 100 }, 80, 110_000), '     50B/100B 10s');
  });
});

describe('templates on docker 20.10 structs', () => {
  const container = {
    Id: 'abc', Name: '/web', State: { Status: 'running', Running: true, Pid: 42 },
    Config: { Labels: { a: '1' }, Env: ['A=1'] }, HostConfig: { NanoCpus: 5, Dns: [] }, GraphDriver: { Name: 'overlay', Data: null },
    NetworkSettings: { Networks: { none: {} } },
  };
  const run = (t: string, data: unknown, type = CONTAINER_JSON) => new Template(t).execute(typed(structuredClone(data), type));

  it('fields the JSON lacks have their zero values; Go names reach JSON names', () => {
    assert.equal(run('[{{.NetworkSettings.IPAddress}}]', container), '[]');
    assert.equal(run('{{.ID}} {{.State.Pid}} {{.State.OOMKilled}} {{.RestartCount}}', container), 'abc 42 false 0');
    assert.equal(run('{{.HostConfig.NanoCPUs}} {{.HostConfig.DNS}}', container), '5 []');
    assert.equal(run('{{range $k, $v := .NetworkSettings.Networks}}{{$k}}=[{{$v.IPAddress}}]{{end}}', container), 'none=[]');
    assert.equal(run('{{.SizeRw}} {{.State.Health}}', container), '<nil> <nil>');
  });

  it("a map's missing key is <no value> (index gives the zero value); nil maps print map[] and json null", () => {
    assert.equal(run('{{.Config.Labels.nope}}|{{index .Config.Labels "nope"}}|{{.Config.Labels.a}}', container), '<no value>||1');
    assert.equal(run('{{.GraphDriver.Data}} {{json .GraphDriver.Data}}', container), 'map[] null');
  });

  it('a field the struct lacks is an error naming the type; structs print in field order', () => {
    assert.throws(() => run('{{.Nope}}', container), /can't evaluate field Nope in type types\.ContainerJSON/);
    assert.throws(() => run('{{.Id}}', container), /can't evaluate field Id/, 'the typed run; inspect then tries the raw JSON');
    assert.equal(run('{{.GraphDriver}}', container), '{map[] overlay}');
    assert.equal(run('{{if .GraphDriver}}struct{{end}}', { Id: 'x' }), 'struct');
  });

  it('version, info, image inspect', () => {
    const v = { Client: { Version: '0.1.0', ApiVersion: '1.41' }, Server: { ApiVersion: '1.41', MinAPIVersion: '1.24', Version: '0.1.0' } };
    assert.equal(run('{{.Server.APIVersion}} {{.Client.APIVersion}} [{{.Server.GitCommit}}]', v, VERSION_INFO), '1.41 1.41 []');
    assert.throws(() => run('{{.Server.ApiVersion}}', v, VERSION_INFO), /can't evaluate field ApiVersion in type types\.Version/);
    const info = { ServerVersion: '0.1.0', Runtimes: { runc: { path: '/usr/sbin/runc' }, vmm: { path: 'tsula-sandboxer' } }, HttpProxy: '' };
    assert.equal(run('{{.ServerVersion}} {{.Runtimes}} [{{.HTTPProxy}}] {{.Swarm.LocalNodeState}}', info, INFO),
      '0.1.0 map[runc:{/usr/sbin/runc [] <nil>} vmm:{tsula-sandboxer [] <nil>}] [] ');
    assert.equal(run('{{.ID}} {{.RootFS.Type}} [{{.Metadata.LastTagTime}}] {{.Config}}', { Id: 'sha256:1', RootFS: { Type: 'layers' } }, IMAGE_INSPECT),
      'sha256:1 layers [] <nil>');
    // a nil pointer has no fields, in Go as here
    assert.throws(() => run('{{.Config.Labels}}', { Id: 'sha256:1' }, IMAGE_INSPECT), /nil pointer evaluating/);
  });
});

interface RunResult { code: number; stdout: string; stderr: string }

function cli(args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, TSULA_HOST: 'unix:///nonexistent/tsulad.sock' };
    const p = spawn(process.execPath, [TSULA, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('management commands (docker\'s groups)', () => {
  it('GROUP --help lists its commands on stdout; the group alone on stderr', async () => {
    for (const [group, cmds] of Object.entries({
      image: ['build', 'history', 'import', 'inspect', 'load', 'ls', 'prune', 'pull', 'push', 'rm', 'save', 'tag'],
      container: ['attach', 'commit', 'cp', 'create', 'diff', 'exec', 'export', 'inspect', 'kill', 'logs', 'ls', 'pause', 'port', 'prune', 'rename', 'restart', 'rm', 'run', 'start', 'stats', 'stop', 'top', 'unpause', 'update', 'wait'],
      system: ['df', 'events', 'info', 'prune'],
      sandbox: ['ls', 'shell'],
    })) {
      const r = await cli([group, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`\nUsage:  tsula ${group} COMMAND\n\n`), r.stdout);
      const listed = r.stdout.split('\n').filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
      assert.deepEqual(listed, cmds, group);
      assert.ok(r.stdout.endsWith(`\nRun 'tsula ${group} COMMAND --help' for more information on a command.\n`));
      assert.equal((await cli(['help', group])).stdout, r.stdout);
      const bare = await cli([group]);
      assert.deepEqual([bare.code, bare.stdout, bare.stderr], [0, '', r.stdout]);
    }
  });

  it("an unknown subcommand is an error with the group's usage", async () => {
    const r = await cli(['image', 'bogus']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tsula: 'bogus' is not a tsula image command\.\n\nUsage: {2}tsula image COMMAND/);
  });

  it("a subcommand's help is under its group's name, with docker's aliases and usage", async () => {
    const ls = await cli(['image', 'ls', '--help']);
    assert.match(ls.stdout, /^\nUsage: {2}tsula image ls \[OPTIONS\] \[REPOSITORY\[:TAG\]\]\n\nList images\n\nAliases:\n {2}ls, list\n/);
    assert.match((await cli(['container', 'ls', '--help'])).stdout, /Aliases:\n {2}ls, ps, list\n/);
    assert.match((await cli(['help', 'container', 'rm'])).stdout, /Usage: {2}tsula container rm \[OPTIONS\] CONTAINER/);
    const insp = await cli(['image', 'inspect', '--help']);
    assert.match(insp.stdout, /Usage: {2}tsula image inspect \[OPTIONS\] IMAGE \[IMAGE\.\.\.\]\n\nDisplay detailed information on one or more images\n/);
    assert.doesNotMatch(insp.stdout, /--type|--size/);
    assert.doesNotMatch((await cli(['ps', '--help'])).stdout, /Aliases/);
  });

  it('inspect speaks of tsula objects; a usage error in a group names the group', async () => {
    const r = await cli(['inspect', '--help']);
    assert.match(r.stdout, /Return low-level information on tsula objects/);
    assert.doesNotMatch(r.stdout, /Docker/);
    const bad = await cli(['image', 'ls', '--bogus']);
    assert.equal(bad.code, 125);
    assert.equal(bad.stderr, "unknown flag: --bogus\nSee 'tsula image ls --help'.\n");
    const f = await cli(['ps', '-f', 'novalue']);
    assert.equal(f.code, 125);
    assert.equal(f.stderr, 'invalid argument "novalue" for "-f, --filter" flag: bad format of filter (expected name=value)\nSee \'tsula ps --help\'.\n');
  });
});

describe('history and system df, docker\'s formatters', () => {
  it('history rows: ids cut, CREATED BY cut at 45, sizes human; -H=false raw', () => {
    const h = { Id: `sha256:${'a'.repeat(64)}`, Created: 1_700_000_000, CreatedBy: `/bin/sh -c #(nop)\tADD file:${'f'.repeat(64)} in /`, Size: 1_982_363, Comment: '' };
    const r = historyRow(h, { trunc: true, human: true, now: 1_700_000_000_000 + 3 * 86400_000 });
    assert.deepEqual([r.ID, r.CreatedSince, r.Size], ['aaaaaaaaaaaa', '3 days ago', '1.98MB']);
    assert.equal(r.CreatedBy, `/bin/sh -c #(nop) ADD file:${'f'.repeat(17)}…`);
    const raw = historyRow({ ...h, Id: '<missing>' }, { trunc: false, human: false });
    assert.deepEqual([raw.ID, raw.Size], ['<missing>', '1982363']);
    assert.match(raw.CreatedSince!, /^2023-11-1\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
  });

  it('df: TYPE TOTAL ACTIVE SIZE RECLAIMABLE per type', () => {
    const rows = summaryRows({
      LayersSize: 4_000_000,
      Images: [{ Id: 'a', Containers: 1, VirtualSize: 3_000_000, SharedSize: 0 }, { Id: 'b', Containers: 0, VirtualSize: 1_000_000, SharedSize: 0 }],
      Containers: [{ Id: 'c', State: 'running', SizeRw: 100 }, { Id: 'd', State: 'exited', SizeRw: 300 }],
      Volumes: [], BuildCache: null,
    });
    assert.deepEqual(rows.map((r) => [r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable]), [
      ['Images', '2', '1', '4MB', '1MB (25%)'],
      ['Containers', '2', '1', '400B', '300B (75%)'],
      ['Local Volumes', '0', '0', '0B', '0B'],
      ['Build Cache', '0', '0', '0B', '0B'],
    ]);
    // {{json .}}: docker's sorted keys
    assert.deepEqual(Object.keys(rows[0]!), ['Active', 'Reclaimable', 'Size', 'TotalCount', 'Type']);
  });
});
