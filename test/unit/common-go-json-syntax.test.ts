import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJsonBody, goDecode, goUnmarshalError } from '../../src/common/go-json-syntax.js';

const err = (s: string) => goDecode(Buffer.from(s)).error;

test("Go's scanner words for text that is not JSON (encoding/json's SyntaxError, as dockerd's ReadJSON passes them on)", () => {
  const cases: Array<[string, string | null]> = [
    ['{invalid json', "invalid character 'i' looking for beginning of object key string"],
    ["{'a':1}", "invalid character '\\'' looking for beginning of object key string"],
    ['x', "invalid character 'x' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', `invalid character '"' after object key:value pair`],
    ['{"a":01}', "invalid character '1' after object key:value pair"],
    ['[1 2]', "invalid character '2' after array element"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":nul', 'unexpected EOF'],
    ['{"a":-x}', "invalid character 'x' in numeric literal"],
    ['{"a":1.}', "invalid character '}' after decimal point in numeric literal"],
    ['{"a":1e}', "invalid character '}' in exponent of numeric literal"],
    ['{"a":"\\q"}', "invalid character 'q' in string escape code"],
    ['{"a":"\\u12x4"}', "invalid character 'x' in \\u hexadecimal character escape"],
    ['{"a":"x\ny"}', "invalid character '\\n' in string literal"],
    ['{"a":', 'unexpected EOF'],
    ['  \n', 'EOF'],
    ['{} trailing content', 'more'],
    ['12x', 'more'],
    ['{} }', null],
    ['{}]', null],
    ['123 ', null],
    ['{"a":[1,{"b":null}],"c":-1.5e+3}', null],
  ];
  for (const [text, want] of cases) assert.equal(err(text), want, text);
});

test('decodeJsonBody: dockerd ReadJSON messages, a value Go takes though V8 refuses what follows it', () => {
  const bad = (m: string) => new Error(m);
  assert.deepEqual(decodeJsonBody(Buffer.from('{"A":1}'), bad), { A: 1 });
  assert.deepEqual(decodeJsonBody(Buffer.from('{"A":1} }'), bad), { A: 1 });
  assert.throws(() => decodeJsonBody(Buffer.from('{invalid json'), bad), { message: "invalid JSON: invalid character 'i' looking for beginning of object key string" });
  assert.throws(() => decodeJsonBody(Buffer.from('{} trailing content'), bad), { message: 'unexpected content after JSON' });
  assert.throws(() => decodeJsonBody(Buffer.from(' '), bad), { message: 'invalid JSON: got EOF while reading request body' });
  assert.throws(() => decodeJsonBody(Buffer.from('{"a":'), bad), { message: 'invalid JSON: unexpected EOF' });
});

test("json.Unmarshal's words (dockerd's DecodePlatform): the whole input checked, so content after the value is an error too", () => {
  assert.equal(goUnmarshalError('linux/amd64'), "invalid character 'l' looking for beginning of value");
  assert.equal(goUnmarshalError('nope'), "invalid character 'o' in literal null (expecting 'u')");
  assert.equal(goUnmarshalError(''), 'unexpected end of JSON input');
  assert.equal(goUnmarshalError('{"os":'), 'unexpected end of JSON input');
  assert.equal(goUnmarshalError('{} }'), "invalid character '}' after top-level value");
  assert.equal(goUnmarshalError('{}x'), "invalid character 'x' after top-level value");
});
