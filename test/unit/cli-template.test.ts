// The Go text/template subset behind `inspect -f` and `--format`.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFormat, tabwrite } from '../../src/cli/format.js';
import { goSprint, goSprintf } from '../../src/cli/gofmt.js';
import { renderTemplate, Template } from '../../src/cli/template.js';

const data = {
  Id: 'abc123',
  Name: '/web',
  Config: { Env: ['PATH=/bin', 'A=1'], Labels: { tier: 'front' }, Tty: false, Cmd: null },
  HostConfig: { Runtime: 'runc', Memory: 67108864, NanoCpus: 500000000, Binds: null, Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }] },
  State: { Status: 'running', Running: true, Pid: 4242, ExitCode: 0, Health: null },
  NetworkSettings: { Networks: { host: { IPAddress: '' } } },
  Ratio: 0.5,
};

const render = (t: string, d: unknown = data) => renderTemplate(t, d);

describe('template: fields and printing', () => {
  it('renders the seed command {{ json .HostConfig.Runtime }}', () => {
    assert.equal(render('{{ json .HostConfig.Runtime }}'), '"runc"');
  });

  it('walks nested fields and prints Go-style values', () => {
    assert.equal(render('{{.State.Status}} {{.State.Pid}} {{.State.Running}} {{.Ratio}}'), 'running 4242 true 0.5');
    assert.equal(render('{{.Config.Env}}'), '[PATH=/bin A=1]');
    assert.equal(render('{{.Config.Labels}}'), 'map[tier:front]');
    assert.equal(render('{{.HostConfig.Binds}}'), '<nil>');
    assert.equal(render('{{.HostConfig.Ulimits}}'), '[map[Hard:2048 Name:nofile Soft:1024]]');
    assert.equal(render('{{.}}', { b: 1, a: [true, null] }), 'map[a:[true <nil>] b:1]');
  });

  it('json of objects and arrays is compact and unescaped', () => {
    assert.equal(render('{{json .Config.Labels}}'), '{"tier":"front"}');
    assert.equal(render('{{json .Config.Env}}'), '["PATH=/bin","A=1"]');
    assert.equal(render('{{json .X}}', { X: '<a&b>' }), '"<a&b>"');
    assert.equal(render('{{json .Config.Cmd}}'), 'null');
  });

  it('keeps text and honours trim markers', () => {
    assert.equal(render('id={{.Id}}!'), 'id=abc123!');
    assert.equal(render('a \n {{- .Id -}} \n b'), 'aabc123b');
    assert.equal(render('{{- /* a comment */ -}} x'), 'x');
    assert.equal(render('{{-3}}'), '-3');
  });
});

describe('template: control structures', () => {
  it('range over slices and maps, with variables and else', () => {
    assert.equal(render('{{range .Config.Env}}[{{.}}]{{end}}'), '[PATH=/bin][A=1]');
    assert.equal(render('{{range $i, $e := .Config.Env}}{{$i}}:{{$e}} {{end}}'), '0:PATH=/bin 1:A=1 ');
    assert.equal(render('{{range $k, $v := .M}}{{$k}}={{$v}};{{end}}', { M: { b: 2, a: 1 } }), 'a=1;b=2;');
    assert.equal(render('{{range .L}}x{{else}}empty{{end}}', { L: [] }), 'empty');
    assert.equal(render('{{range .L}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}', { L: [1, 2, 3] }), '1');
    assert.equal(render('{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}', { L: [1, 2, 3] }), '13');
    assert.equal(render('{{range $n, $net := .NetworkSettings.Networks}}{{$n}}{{end}}'), 'host');
  });

  it('if / else if / else and with', () => {
    assert.equal(render('{{if .Config.Tty}}tty{{else}}no tty{{end}}'), 'no tty');
    assert.equal(render('{{if .Config.Tty}}a{{else if .State.Running}}b{{else}}c{{end}}'), 'b');
    assert.equal(render('{{if and .State.Running (eq .State.ExitCode 0)}}ok{{end}}'), 'ok');
    assert.equal(render('{{if not .Config.Env}}none{{else}}{{len .Config.Env}}{{end}}'), '2');
    assert.equal(render('{{with .State}}{{.Status}}{{end}}'), 'running');
    assert.equal(render('{{with .State.Health}}h{{else}}no health{{end}}'), 'no health');
    assert.equal(render('{{$x := .Id}}{{$x}}-{{$.Name}}'), 'abc123-/web');
    assert.equal(render('{{if $s := .State.Status}}{{$s}}{{end}}'), 'running');
  });

  it('functions: index, lower/upper, join, split, printf, println, pipelines', () => {
    assert.equal(render('{{index .Config.Labels "tier"}}'), 'front');
    assert.equal(render('{{index .Config.Labels "missing"}}'), '');
    assert.equal(render('{{index .Config.Env 1}}'), 'A=1');
    assert.equal(render('{{lower "ABC"}} {{upper .State.Status}} {{.State.Status | upper}}'), 'abc RUNNING RUNNING');
    assert.equal(render('{{join .Config.Env ","}}'), 'PATH=/bin,A=1');
    assert.equal(render('{{index (split "a:b" ":") 1}}'), 'b');
    assert.equal(render('{{printf "%s=%d %q %v %5s|%-3d|" .Id 7 "q" .State.Running "ab" 1}}'), 'abc123=7 "q" true    ab|1  |');
    assert.equal(render('{{println .Id}}'), 'abc123\n');
    assert.equal(render('{{.Id | printf "%s!"}}'), 'abc123!');
    assert.equal(render('{{json .State.Pid | printf "<%s>"}}'), '<4242>');
  });
});

describe('template: errors read like Go', () => {
  const err = (t: string, d: unknown = data) => assert.throws(() => render(t, d), /executing/);

  it('unknown field: map has no entry for key', () => {
    assert.throws(() => render('{{ json .Nope }}'),
      { message: 'template: :1:8: executing "" at <.Nope>: map has no entry for key "Nope"' });
    assert.throws(() => render('{{.Nope}}'),
      { message: 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"' });
    assert.throws(() => render('line1\n{{.State.Nope}}'),
      { message: 'template: :2:2: executing "" at <.State.Nope>: map has no entry for key "Nope"' });
  });

  it('nil pointers, non-maps, bad calls', () => {
    assert.throws(() => render('{{.State.Health.Status}}'), /nil pointer evaluating interface \{\}\.Status/);
    assert.throws(() => render('{{.Id.Foo}}'), /can't evaluate field Foo in type string/);
    assert.throws(() => render('{{index .Config.Env 9}}'),
      { message: 'template: :1:2: executing "" at <index .Config.Env 9>: error calling index: index out of range: 9' });
    err('{{len 3}}');
  });

  it('parse errors', () => {
    assert.throws(() => new Template('{{nope .X}}'), { message: 'template: :1: function "nope" not defined' });
    assert.throws(() => new Template('{{.X'), { message: 'template: :1: unclosed action' });
    assert.throws(() => new Template('{{if .X}}a'), /unexpected EOF/);
    assert.throws(() => new Template('{{end}}'), /unexpected \{\{end\}\}/);
  });
});

describe('gofmt', () => {
  it('prints values like fmt %v', () => {
    assert.equal(goSprint(1.5e-7), '1.5e-07');
    assert.equal(goSprint(1234567.5), '1.2345675e+06');
    assert.equal(goSprint(67108864), '67108864');
    assert.equal(goSprint([]), '[]');
    assert.equal(goSprint({}), 'map[]');
    assert.equal(goSprint(undefined), '<no value>');
  });

  it('printf handles missing and extra arguments', () => {
    assert.equal(goSprintf('%s %s', ['a']), 'a %!s(MISSING)');
    assert.equal(goSprintf('%d', ['x']), '%!d(string=x)');
    assert.equal(goSprintf('x', [1]), 'x%!(EXTRA int=1)');
    assert.equal(goSprintf('%05.1f|%x|%%', [3.14159, 255]), '003.1|ff|%');
  });
});

describe('format: docker --format and tabwriter', () => {
  it('table prefix, literal \\t, header row and alignment', () => {
    const spec = parseFormat('table {{.ID}}\\t{{.Names}}');
    assert.deepEqual(spec, { body: '{{.ID}}\t{{.Names}}', table: true });
    const t = new Template(spec.body);
    const head = t.execute({ ID: 'CONTAINER ID', Names: 'NAMES' }, { header: true });
    const text = tabwrite(`${head}\n${t.execute({ ID: 'abc', Names: 'web' })}\n`);
    assert.equal(text, 'CONTAINER ID   NAMES\nabc            web\n');
  });

  it('header mode passes function arguments through', () => {
    const t = new Template('{{upper .Names}}|{{json .ID}}');
    assert.equal(t.execute({ ID: 'ID', Names: 'NAMES' }, { header: true }), 'NAMES|ID');
  });

  it('columns are at least 10 wide with 3 spaces of padding', () => {
    assert.equal(tabwrite('a\tb\tc\nlonger-than-ten\tx\ty\n'), 'a                 b         c\nlonger-than-ten   x         y\n');
  });
});
