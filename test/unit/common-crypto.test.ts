import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeCrypto from 'node:crypto';
import { randomBytes, randomInt, randomUUID, sha256Hex, createHash } from '../../src/common/crypto.js';

test('sha256Hex: the digest node:crypto (OpenSSL) gives, for text (UTF-8) and bytes', () => {
  const texts = ['', 'abc', 'default/pod-1', `${'x'.repeat(1000)}\0é中`, 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64)];
  for (const t of texts) assert.equal(sha256Hex(t), nodeCrypto.createHash('sha256').update(t).digest('hex'), JSON.stringify(t.slice(0, 20)));
  const bytes = nodeCrypto.randomBytes(777);
  assert.equal(sha256Hex(bytes), nodeCrypto.createHash('sha256').update(bytes).digest('hex'));
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // FIPS 180-2's example
  assert.equal(createHash('sha256').update('abc').digest('hex'), sha256Hex('abc'));
});

test('randomBytes: the size asked for, different every time', () => {
  for (const n of [0, 1, 6, 32, 64, 5000]) assert.equal(randomBytes(n).length, n);
  const seen = new Set(Array.from({ length: 100 }, () => randomBytes(16).toString('hex')));
  assert.equal(seen.size, 100);
});

test('randomInt: every value of [0, max) comes, none outside; a bad max is refused', () => {
  for (const max of [1, 2, 7, 100]) {
    const seen = new Set<number>();
    for (let i = 0; i < max * 60; i++) {
      const v = randomInt(max);
      assert.ok(Number.isInteger(v) && v >= 0 && v < max, `${v} of [0, ${max})`);
      seen.add(v);
    }
    assert.equal(seen.size, max, `all of [0, ${max}) in ${max * 60} draws`);
  }
  assert.ok(randomInt(2 ** 32) < 2 ** 32);
  for (const bad of [0, -1, 1.5, 2 ** 32 + 1, Number.NaN]) assert.throws(() => randomInt(bad), RangeError, String(bad));
});

test('randomUUID: RFC 9562 version 4, variant 10', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const u = randomUUID();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    ids.add(u);
  }
  assert.equal(ids.size, 50);
});
