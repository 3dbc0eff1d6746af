// The legacy builder's pure parts against moby's rules: the Dockerfile parser (directives,
// continuations, comments, JSON vs shell form, flags, key=value words), the instructions'
// checks and words, variable substitution, .dockerignore matching, the cache key, and the
// Go spellings dockerd puts in history.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../src/engine/build/parser.js';
import { stagesToBuild, toInstructions } from '../../src/engine/build/instructions.js';
import { ShellLex } from '../../src/engine/build/shell-lex.js';
import { PatternMatcher, readDockerignore } from '../../src/engine/build/dockerignore.js';
import { cacheKey } from '../../src/engine/build/cache.js';
import { goMatch, normalizeDest } from '../../src/engine/build/copy.js';
import { goQuoteList, healthComment, withCmdComment, emptyRunConfig } from '../../src/engine/build/runconfig.js';
import { goDuration } from '../../src/common/duration.js';
import { BuildArgs } from '../../src/engine/build/buildargs.js';

const parse = (s: string) => parseDockerfile(s);

test('continuations join lines, keep the next line\'s indentation, skip comments inside', () => {
  const r = parse('FROM busybox\nRUN echo a \\\n    && echo b \\\n# a comment\n  && echo c\n');
  assert.equal(r.nodes.length, 2);
  assert.equal(r.nodes[1]!.original, 'RUN echo a     && echo b   && echo c');
  assert.deepEqual(r.nodes[1]!.args, ['echo a     && echo b   && echo c']);
  assert.equal(r.nodes[1]!.json, false);
  assert.equal(r.nodes[1]!.startLine, 2);
});

test('empty continuation lines are skipped with dockerd\'s warning', () => {
  const r = parse('FROM busybox\nRUN echo a \\\n\n  b\n');
  assert.equal(r.nodes[1]!.original, 'RUN echo a   b');
  assert.match(r.warnings[0]!, /Empty continuation line found in:\n {4}RUN echo a/);
  assert.match(r.warnings.at(-1)!, /Empty continuation lines will become errors/);
});

test('the escape directive changes the continuation character; only at the top', () => {
  const r = parse('# escape=`\nFROM busybox\nRUN dir c:\\ `\n  && echo x\n');
  assert.equal(r.escape, '`');
  assert.equal(r.nodes[1]!.original, 'RUN dir c:\\   && echo x');
  const late = parse('FROM busybox\n# escape=`\nRUN echo a `\n');
  assert.equal(late.escape, '\\');
  assert.throws(() => parse('# escape=x\nFROM busybox\n'), /dockerfile parse error line 1: invalid ESCAPE 'x'/);
});

test('JSON (exec) form vs shell form', () => {
  const r = parse('FROM busybox\nCMD ["echo", "hi"]\nCMD echo hi\nENTRYPOINT [ "a" ]\nRUN [not json\n');
  assert.deepEqual([r.nodes[1]!.args, r.nodes[1]!.json], [['echo', 'hi'], true]);
  assert.deepEqual([r.nodes[2]!.args, r.nodes[2]!.json], [['echo hi'], false]);
  assert.deepEqual(r.nodes[3]!.args, ['a']);
  assert.deepEqual([r.nodes[4]!.args, r.nodes[4]!.json], [['[not json'], false]);
  assert.throws(() => parse('FROM x\nCMD ["a", 1]\n'), /arrays must be comprised of strings only/);
});

test('flags, key=value pairs and the old ENV form', () => {
  const r = parse('FROM --platform=linux/amd64 busybox AS Build\nCOPY --from=build --chown=1:2 a b /dst/\nENV A=1 B="x y" C=\\ z\nENV OLD  value with  spaces\nLABEL "k 1"=v\n');
  const { stages } = toInstructions(r);
  assert.equal(stages[0]!.name, 'build');
  assert.equal(stages[0]!.platform, 'linux/amd64');
  const [copy, env, old, label] = stages[0]!.commands;
  assert.deepEqual(copy, { original: 'COPY --from=build --chown=1:2 a b /dst/', line: 2, kind: 'copy', sources: ['a', 'b'], dest: '/dst/', chown: '1:2', from: 'build', chmod: '' });
  assert.deepEqual(env!.kind === 'env' && env.pairs, [['A', '1'], ['B', '"x y"'], ['C', '\\ z']]);
  assert.deepEqual(old!.kind === 'env' && old.pairs, [['OLD', 'value with  spaces']]);
  assert.deepEqual(label!.kind === 'label' && label.pairs, [['"k 1"', 'v']]);
});

test('instruction errors are dockerd\'s, with the line', () => {
  assert.throws(() => toInstructions(parse('FROM busybox\nRUN true\nFOO bar\n')), /: dockerfile parse error line 3: unknown instruction: FOO$/);
  assert.throws(() => toInstructions(parse('FROM busybox\nCOPY --frm=x a b\n')), /dockerfile parse error line 2: Unknown flag: frm/);
  assert.throws(() => toInstructions(parse('FROM busybox\nCOPY a\n')), /COPY requires at least two arguments/);
  assert.throws(() => toInstructions(parse('FROM a b\n')), /FROM requires either one or three arguments/);
  assert.throws(() => toInstructions(parse('RUN true\n')), /No build stage in current context/);
  assert.throws(() => toInstructions(parse('FROM a\nSHELL sh -c\n')), /SHELL requires the arguments to be in JSON form/);
  assert.throws(() => toInstructions(parse('FROM a\nONBUILD FROM b\n')), /FROM isn't allowed as an ONBUILD trigger/);
  const meta = toInstructions(parse('ARG V=1\nFROM busybox:${V}\n'));
  assert.deepEqual(meta.metaArgs[0]!.args, [{ key: 'V', value: '1' }]);
});

test('variable substitution: $VAR, ${VAR}, :- and :+, quotes and escapes', () => {
  const lex = new ShellLex('\\');
  const env = ['A=apple', 'E=', 'SP=a b'];
  assert.equal(lex.processWord('$A-${A}', env), 'apple-apple');
  assert.equal(lex.processWord('${NOPE:-dflt} ${A:-dflt} ${E:-empty}', env), 'dflt apple empty');
  assert.equal(lex.processWord('${A:+set}|${NOPE:+set}|${E:+set}', env), 'set||');
  assert.equal(lex.processWord("'$A' \"$A\" \\$A", env), '$A apple $A');
  assert.equal(lex.processWord('"a\\"b" c\\ d', env), 'a"b c d');
  assert.equal(lex.processWord('$', env), '$');
  assert.deepEqual(lex.processWords('$SP "c d" e', env), ['a', 'b', 'c d', 'e']);
  assert.throws(() => lex.processWord('${A', env), /missing ':' in substitution/);
  assert.throws(() => lex.processWord('${', env), /missing '}'/);
  assert.throws(() => lex.processWord('${A:?x}', env), /unsupported modifier \(\?\) in substitution/);
  assert.equal(new ShellLex('`').processWord('a`$b', env), 'a$b');
});

test('.dockerignore: comments, cleaning, **, ! exceptions, parent directories', () => {
  const pats = readDockerignore('# comment\n/abs.txt\n./dir/\n*.log\n**/*.tmp\n!keep.log\nsecret*\n!secret-ok\n');
  assert.deepEqual(pats, ['abs.txt', 'dir', '*.log', '**/*.tmp', '!keep.log', 'secret*', '!secret-ok']);
  const pm = new PatternMatcher(pats);
  const m = (p: string) => pm.matches(p);
  assert.equal(m('abs.txt'), true);
  assert.equal(m('dir/inner/file'), true, 'below an excluded directory');
  assert.equal(m('a.log'), true);
  assert.equal(m('sub/a.log'), false, '* does not cross /');
  assert.equal(m('sub/deep/x.tmp'), true);
  assert.equal(m('x.tmp'), true, '**/ matches no directory too');
  assert.equal(m('keep.log'), false, 'an exception re-includes');
  assert.equal(m('secret-ok'), false);
  assert.equal(m('secret.txt'), true);
  assert.equal(m('other'), false);
  assert.throws(() => new PatternMatcher(['!']), /illegal exclusion pattern/);
});

test('the cache key: what dockerd\'s compare looks at, maps as sets, never with OpenStdin', () => {
  const base = { Cmd: ['/bin/sh', '-c', 'echo'], Env: ['A=1', 'B=2'], Labels: { x: '1', y: '2' }, ExposedPorts: { '80/tcp': {} } };
  const k = cacheKey('sha256:p', base)!;
  assert.equal(cacheKey('sha256:p', { ...base, Labels: { y: '2', x: '1' } }), k, 'label order does not matter');
  assert.notEqual(cacheKey('sha256:p', { ...base, Env: ['B=2', 'A=1'] }), k, 'Env order does');
  assert.notEqual(cacheKey('sha256:q', base), k, 'the parent does');
  assert.notEqual(cacheKey('sha256:p', { ...base, Cmd: ['/bin/sh', '-c', 'echo x'] }), k);
  assert.notEqual(cacheKey('sha256:p', { ...base, User: 'nobody' }), k);
  assert.equal(cacheKey('sha256:p', { ...base, WorkingDir: '/x' } as never), k, 'WorkingDir is not compared (its step is)');
  assert.equal(cacheKey('sha256:p', { ...base, OpenStdin: true }), null);
});

test('history spellings: #(nop) comments, Go %q lists, HEALTHCHECK\'s struct', () => {
  assert.equal(withCmdComment(emptyRunConfig(), `CMD ${goQuoteList(['sh'])}`).Cmd!.join(' '), '/bin/sh -c #(nop)  CMD ["sh"]');
  assert.equal(goQuoteList(['a "b"', 'c\td']), '["a \\"b\\"" "c\\td"]');
  assert.equal(goDuration(5e9), '5s');
  assert.equal(goDuration(90e9), '1m30s');
  assert.equal(goDuration(1.5e6), '1.5ms');
  assert.equal(healthComment({ Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 3 }), 'HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" \'\\x03\'}');
  assert.equal(healthComment({ Test: ['CMD-SHELL', 'true'], StartInterval: 1e9 }), 'HEALTHCHECK &{["CMD-SHELL" "true"] "0s" "0s" "0s" "1s" \'\\x00\'}');
});

test('COPY: Go wildcards, destinations relative to WORKDIR', () => {
  assert.equal(goMatch('*.txt').test('a.txt'), true);
  assert.equal(goMatch('*.txt').test('d/a.txt'), false);
  assert.equal(goMatch('d/?.t[xy]t').test('d/a.tyt'), true);
  assert.equal(goMatch('[^a]b').test('ab'), false);
  assert.equal(normalizeDest('/app', 'x'), '/app/x');
  assert.equal(normalizeDest('/app', 'sub/'), '/app/sub/');
  assert.equal(normalizeDest('', '.'), '/');
  assert.equal(normalizeDest('/app', '/abs'), '/abs');
});

test('build args: declared ones only, ENV wins, proxies always allowed, unused ones warned about', () => {
  const args = BuildArgs.fromJson({ A: 'cli', HTTP_PROXY: 'http://p', UNUSED: 'x', NOVALUE: null });
  args.addMetaArg('M', 'meta');
  const st = args.forStage();
  st.addArg('A', 'default');
  st.addArg('M', undefined);
  assert.deepEqual(st.filterAllowed(['PATH=/bin']), ['A=cli', 'HTTP_PROXY=http://p', 'M=meta']);
  assert.deepEqual(st.filterAllowed(['A=env']), ['HTTP_PROXY=http://p', 'M=meta']);
  assert.equal(st.isReferencedOrNotBuiltin('HTTP_PROXY'), false);
  args.mergeReferenced(st);
  assert.equal(args.unusedWarning(), '[Warning] One or more build-args [NOVALUE UNUSED] were not consumed\n');
});

test('stagesToBuild: --target cuts the stages, then each --label is a LABEL step of the target\'s, unexpanded', () => {
  const df = 'FROM busybox AS base\nRUN echo b > /b\nFROM base AS second\nRUN echo s > /s\nFROM busybox\nRUN echo l > /l\n';
  const stages = stagesToBuild(toInstructions(parse(df)).stages, 'Second', { z: '1', lab: "it's $HOME" });
  assert.deepEqual(stages.map((s) => s.name), ['base', 'second']);
  assert.deepEqual(stages[0]!.commands.map((c) => c.original), ['RUN echo b > /b']);
  assert.deepEqual(stages[1]!.commands.map((c) => c.original), ['RUN echo s > /s', "LABEL lab=it's $HOME", 'LABEL z=1']);
  assert.deepEqual(stages[1]!.commands.map((c) => c.kind === 'label' && [c.pairs, c.noExpand]).slice(1), [[[['lab', "it's $HOME"]], true], [[['z', '1']], true]]);
  const all = stagesToBuild(toInstructions(parse(df)).stages, '', { lab: 'L' });
  assert.deepEqual(all.map((s) => s.commands.length), [1, 1, 2], 'no target: the last stage takes them');
  assert.throws(() => stagesToBuild(toInstructions(parse(df)).stages, 'nope', {}), { message: 'failed to reach build target nope in Dockerfile' });
});
