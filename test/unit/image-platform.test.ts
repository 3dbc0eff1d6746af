// The platform query parameters of the image endpoints: dockerd's DecodePlatform and the
// graphdriver store's matching and its "does not match" error; containerd's platforms.Parse
// (build's platform and FROM --platform).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPlatform, decodePlatform, decodePlatforms, formatPlatform, platformMatches } from '../../src/engine/api/platform.js';
import type { ImageRecord } from '../../src/image/types.js';
import { parsePlatformSpecifier } from '../../src/image/platforms.js';
import { hostPlatform } from '../../src/image/registry/manifest.js';

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
    e.message === 'image with reference busybox was found but its platform (linux/amd64) does not match the specified platform (linux/arm64)'
    && e.kind === 'NotFound');
});

test('parsePlatformSpecifier: containerd 1.4/1.5\'s Parse, its normalization and its words', () => {
  assert.deepEqual(parsePlatformSpecifier('linux/arm64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatformSpecifier('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatformSpecifier('linux/aarch64/8'), { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'a variant given stays named');
  assert.deepEqual(parsePlatformSpecifier('Linux/X86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(parsePlatformSpecifier('linux/arm'), { os: 'linux', architecture: 'arm' });
  assert.deepEqual(parsePlatformSpecifier('linux/arm/6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.deepEqual(parsePlatformSpecifier('linux/armhf'), { os: 'linux', architecture: 'arm' });
  assert.deepEqual(parsePlatformSpecifier('macos/arm64'), { os: 'darwin', architecture: 'arm64' });
  assert.deepEqual(parsePlatformSpecifier('linux'), { os: 'linux', architecture: hostPlatform().architecture });
  assert.deepEqual(parsePlatformSpecifier('arm64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(parsePlatformSpecifier('i386'), { os: 'linux', architecture: '386' });
  assert.deepEqual(parsePlatformSpecifier('bogus/x'), { os: 'bogus', architecture: 'x' }, 'an os/arch pair is not checked');
  const refused = (s: string, message: string) => assert.throws(() => parsePlatformSpecifier(s), { message, kind: 'InvalidArgument' } as object);
  refused('bogus/x/y/z', '"bogus/x/y/z": cannot parse platform specifier: invalid argument');
  refused('bogus', '"bogus": unknown operating system or architecture: invalid argument');
  refused('linux/*', '"linux/*": wildcards not yet supported: invalid argument');
  refused('', '"" is an invalid component of "": platform specifier component must match "^[A-Za-z0-9_-]+$": invalid argument');
  refused('linux/amd64.1', '"amd64.1" is an invalid component of "linux/amd64.1": platform specifier component must match "^[A-Za-z0-9_-]+$": invalid argument');
});
