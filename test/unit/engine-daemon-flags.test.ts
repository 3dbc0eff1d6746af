// tsulad's command line: flags into DaemonFlags, --help and --version, and the refusals as
// commander worded them (the daemon used commander before node's parseArgs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonHelp, parseDaemonArgs } from '../../src/engine/daemon-flags.js';

const parse = (...args: string[]) => parseDaemonArgs(args, '1.2.3');

test('flags: long, short, --x=v, repeated (the last wins), "" and = for an empty value', () => {
  assert.deepEqual(parse(), { flags: {} });
  assert.deepEqual(parse('-H', 'unix:///a.sock', '--graph', '/g', '--state=/s', '--config-file', '/dev/null', '--default-runtime', 'r',
    '--storage-driver', 'vfs', '--log-level', 'debug', '--group', 'g', '--cri-socket', 'unix:///c.sock'), {
    flags: { host: 'unix:///a.sock', graph: '/g', state: '/s', configFile: '/dev/null', defaultRuntime: 'r', storageDriver: 'vfs',
      logLevel: 'debug', group: 'g', criSocket: 'unix:///c.sock' },
  });
  assert.deepEqual(parse('-Hunix:///b.sock', '--graph', '/1', '--graph', '/2'), { flags: { host: 'unix:///b.sock', graph: '/2' } });
  assert.deepEqual(parse('--cri-socket', ''), { flags: { criSocket: '' } });
  assert.deepEqual(parse('--cri-socket='), { flags: { criSocket: '' } });
  // a value that starts with a dash is still the value (commander took the next argument)
  assert.deepEqual(parse('--group', '-x'), { flags: { group: '-x' } });
});

test('--version, --help and refusals: stdout/stderr and exit codes as commander gave them', () => {
  for (const v of ['-V', '--version']) assert.deepEqual(parse('--graph', '/g', v), { exit: 0, stdout: '1.2.3\n' });
  for (const h of ['-h', '--help']) assert.deepEqual(parse(h), { exit: 0, stdout: daemonHelp() });
  const refused = (args: string[], stderr: string) => assert.deepEqual(parse(...args), { exit: 1, stderr }, args.join(' '));
  refused(['--x'], "error: unknown option '--x'\n");
  refused(['-x', '--graph', '/g'], "error: unknown option '-x'\n");
  refused(['--x=1'], "error: unknown option '--x=1'\n");
  refused(['--help=1'], "error: unknown option '--help=1'\n");
  refused(['--graph'], "error: option '--graph <dir>' argument missing\n");
  refused(['-H'], "error: option '-H, --host <unix:///path>' argument missing\n");
  refused(['a', 'b'], 'error: too many arguments. Expected 0 arguments but got 2.\n');
  // --help wins over an unknown option, not over a missing value
  assert.deepEqual(parse('--x', '--help'), { exit: 0, stdout: daemonHelp() });
  refused(['--help', '--graph'], "error: option '--graph <dir>' argument missing\n");
});

test('--help: usage, then every flag with its argument, descriptions wrapped at 80 columns', () => {
  const help = daemonHelp();
  assert.match(help, /^Usage: tsulad \[options\]\n\ntsula engine daemon\n\nOptions:\n {2}-V, --version {16}output the version number\n/);
  assert.match(help, /\n {2}-H, --host <unix:\/\/\/path> {4}API socket \(default\n {31}unix:\/\/\/run\/tsula\/tsulad\.sock\)\n/);
  assert.match(help, /\n {2}--cri-socket <unix:\/\/\/path> {2}CRI socket for kubelet and crictl, "" for none\n {31}\(default unix:\/\/\/run\/tsula\/cri\.sock\)\n/);
  assert.match(help, /\n {2}-h, --help {19}display help for command\n$/);
  for (const line of help.split('\n')) assert.ok(line.length <= 80, line);
  for (const f of ['--graph <dir>', '--state <dir>', '--config-file <file>', '--default-runtime <name>', '--storage-driver <name>', '--log-level <level>', '--group <name>']) {
    assert.ok(help.includes(`\n  ${f} `), f);
  }
});
