// `tsula images` rows as docker's image formatter makes them (imageFormatTaggedAndDigest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageRows } from '../../src/cli/commands/images.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const img = (RepoTags: string[], RepoDigests: string[]) => ({ Id: `sha256:${'a'.repeat(64)}`, Created: 0, Size: 1, RepoTags, RepoDigests });
const rows = (tags: string[], digests: string[], withDigests: boolean) =>
  imageRows([img(tags, digests)], true, 0, withDigests).map((r) => `${String(r.Repository)} ${String(r.Tag)} ${String(r.Digest)}`);

test('a tag per row; a repository named only by digest gets its own <none> row (a pull by digest of a tagged image)', () => {
  const tags = ['busybox:latest', 'busybox:1'];
  const digests = [`busybox@${D1}`, `127.0.0.1:5000/x/bb@${D2}`];
  assert.deepEqual(rows(tags, digests, false), ['busybox latest <none>', 'busybox 1 <none>', '127.0.0.1:5000/x/bb <none> ']);
  assert.deepEqual(rows(tags, digests, true), [`busybox latest ${D1}`, `busybox 1 ${D1}`, `127.0.0.1:5000/x/bb <none> ${D2}`]);
  // with --digests: each digest of the tag's repository
  assert.deepEqual(rows(['r:t'], [`r@${D1}`, `r@${D2}`], true), [`r t ${D1}`, `r t ${D2}`]);
});

test('a dangling image is one <none> row; digests only: a row per repository (per digest with --digests)', () => {
  assert.deepEqual(rows([], [], true), ['<none> <none> <none>']);
  assert.deepEqual(rows(['<none>:<none>'], ['<none>@<none>'], false), ['<none> <none> <none>']);
  assert.deepEqual(rows([], [`r@${D1}`, `r@${D2}`], false), ['r <none> ']);
  assert.deepEqual(rows([], [`r@${D1}`, `r@${D2}`], true), [`r <none> ${D1}`, `r <none> ${D2}`]);
});
