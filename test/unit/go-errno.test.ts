import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goErrnoText } from '../../src/common/go-errno.js';

test("goErrnoText: Go's words for a Node error's errno, none for others", () => {
  const err = (code: string) => Object.assign(new Error(`${code}: libuv's words`), { code });
  assert.equal(goErrnoText(err('EADDRINUSE')), 'address already in use');
  assert.equal(goErrnoText(err('ECONNREFUSED')), 'connection refused');
  assert.equal(goErrnoText(err('ENOENT')), 'no such file or directory');
  assert.equal(goErrnoText(err('ERR_SOMETHING')), undefined);
  assert.equal(goErrnoText(new Error('plain')), undefined);
  assert.equal(goErrnoText(null), undefined);
});
