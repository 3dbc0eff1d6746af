// The platform query parameters of the image endpoints: dockerd's DecodePlatform and the
// graphdriver store's matching and its "does not match" error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPlatform, decodePlatform, decodePlatforms, formatPlatform, platformMatches } from '../../src/engine/api/platform.js';
import type { ImageRecord } from '../../src/image/types.js';

test('decodePlatform: a JSON OCI platform with os and architecture, in dockerd\'s words otherwise', () => {
  assert.deepEqual(decodePlatform('{"os":"linux","architecture":"arm","variant":"v7"}'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.throws(() => decodePlatform('linux/amd64'), { message: "failed to parse platform: invalid character 'l' looking for beginning of value" });
  assert.throws(() => decodePlatform('nope'), { message: "failed to parse platform: invalid character 'o' in literal null (expecting 'u')" });
  assert.throws(() => decodePlatform('{"os":"linux"}'), { message: 'both OS and Architecture must be provided' });
  assert.throws(() => decodePlatform('{"variant":"v7"}'), { message: 'optional platform fields provided, but OS and Architecture are missing' });
  assert.deepEqual(decodePlatforms([]), []);
});

test('platformMatches: containerd\'s normalized names; an older arm or amd64 variant runs', () => {
  const p = (os: string, architecture: string, variant?: string) => ({ os, architecture, ...(variant ? { variant } : {}) });
  assert.ok(platformMatches(p('linux', 'amd64'), p('linux', 'x86_64')));
  assert.ok(platformMatches(p('linux', 'arm64', 'v8'), p('linux', 'aarch64')));
  assert.ok(platformMatches(p('linux', 'arm', 'v7'), p('linux', 'arm', 'v6')));
  assert.ok(!platformMatches(p('linux', 'arm', 'v6'), p('linux', 'arm', 'v7')));
  assert.ok(!platformMatches(p('linux', 'arm64'), p('linux', 'amd64')));
  assert.ok(!platformMatches(p('windows', 'amd64'), p('linux', 'amd64')));
  assert.equal(formatPlatform(p('linux', 'arm', 'v7')), 'linux/arm/v7');
});

test('checkPlatform: dockerd\'s 404 for an image of another platform', () => {
  const img = { os: 'linux', architecture: 'amd64' } as ImageRecord;
  assert.doesNotThrow(() => checkPlatform('busybox', img, null, undefined));
  assert.doesNotThrow(() => checkPlatform('busybox', img, null, { os: 'linux', architecture: 'amd64' }));
  assert.throws(() => checkPlatform('busybox', img, null, { os: 'linux', architecture: 'arm64' }), (e: Error & { kind?: string }) =>
    e.message === 'image with reference busybox was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64'
    && e.kind === 'NotFound');
});
