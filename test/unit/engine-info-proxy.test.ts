// /info's proxies as dockerd shows them: credentials masked (maskCredentials).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskCredentials } from '../../src/engine/api/system.js';

test('a proxy URL\'s user and password are xxxxx:xxxxx; others as they are', () => {
  assert.equal(maskCredentials('http://user:s3cret@proxy.example.com:3128'), 'http://xxxxx:xxxxx@proxy.example.com:3128');
  assert.equal(maskCredentials('https://user@proxy:8080/path'), 'https://xxxxx:xxxxx@proxy:8080/path');
  assert.equal(maskCredentials('http://proxy.example.com:3128'), 'http://proxy.example.com:3128');
  assert.equal(maskCredentials('http://proxy/?a=b@c'), 'http://proxy/?a=b@c');
  assert.equal(maskCredentials(''), '');
});
