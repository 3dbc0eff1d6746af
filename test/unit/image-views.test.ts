// docker image inspect's views: Go's container.Config with its zero values, RFC3339Nano times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerConfigView, goTime } from '../../src/engine/api/image-views.js';

test('containerConfigView: every field of container.Config in its order, omitempty ones only when set', () => {
  const v = containerConfigView({ Cmd: ['sh'], ExposedPorts: { '80/tcp': {} }, StopSignal: '', Shell: ['/bin/sh'], Custom: 1 });
  assert.deepEqual(Object.keys(v), ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts',
    'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels', 'Shell', 'Custom']);
  assert.equal(v.User, '');
  assert.equal(v.Env, null);
  assert.deepEqual(v.Cmd, ['sh']);
  assert.deepEqual(Object.keys(containerConfigView(null)).length, 17);
});

test('goTime: trailing zeros of the fraction go, as Go writes a time back', () => {
  assert.equal(goTime('2024-01-01T00:00:00.000000000Z'), '2024-01-01T00:00:00Z');
  assert.equal(goTime('2023-05-19T20:19:17.556566520Z'), '2023-05-19T20:19:17.55656652Z');
  assert.equal(goTime('2023-05-19T20:19:17.50-07:00'), '2023-05-19T20:19:17.5-07:00');
  assert.equal(goTime('2024-01-01T00:00:00Z'), '2024-01-01T00:00:00Z');
});

import { imageConfigView, imageSummaryFor, inspectImageFor, inspectImage, sharedSize } from '../../src/engine/api/image-views.js';
import type { ImageRecord } from '../../src/image/types.js';

const IMG: ImageRecord = {
  id: 'sha256:aa', repoTags: ['busybox:latest'], repoDigests: [], created: '2024-01-01T00:00:00.000Z', size: 10,
  architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
  rootfs: { type: 'layers', diffIds: ['sha256:d1'] }, chainIds: ['c1'], layerSizes: [10],
};

test('imageConfigView: dockerd 29 puts the legacy fields back below 1.50, fewer for 1.50-1.51, none from 1.52', () => {
  const c = { Env: ['PATH=/bin'], Cmd: ['sh'], Hostname: 'x', ExposedPorts: {}, Shell: ['/bin/sh'] };
  assert.deepEqual(imageConfigView(c, '1.52'), { Env: ['PATH=/bin'], Cmd: ['sh'], Shell: ['/bin/sh'] });
  assert.deepEqual(Object.keys(imageConfigView(c, '1.50')), ['Cmd', 'Entrypoint', 'Env', 'Labels', 'OnBuild', 'Shell', 'User', 'Volumes', 'WorkingDir']);
  const old = imageConfigView(c, '1.44');
  assert.deepEqual(Object.keys(old), ['AttachStderr', 'AttachStdin', 'AttachStdout', 'Cmd', 'Domainname', 'Entrypoint', 'Env', 'Hostname',
    'Image', 'Labels', 'OnBuild', 'OpenStdin', 'Shell', 'StdinOnce', 'Tty', 'User', 'Volumes', 'WorkingDir']);
  // Hostname is not an image config field any more: the legacy zero value, not the stored one
  assert.equal(old.Hostname, '');
});

test('inspectImageFor: 1.41 is API 1.41\'s view; fields leave at 1.44 and 1.52 (Container/ContainerConfig stay)', () => {
  assert.deepEqual(inspectImageFor('1.41', IMG, null, 'overlay'), inspectImage(IMG, null, 'overlay'));
  const v143 = inspectImageFor('1.43', IMG, null, 'overlay');
  assert.equal(v143.VirtualSize, 10);
  assert.ok('ContainerConfig' in v143);
  const v144 = inspectImageFor('1.44', IMG, null, 'overlay');
  assert.ok(!('VirtualSize' in v144) && 'Container' in v144);
  const v145 = inspectImageFor('1.45', IMG, { author: '' }, 'overlay');
  assert.ok('Container' in v145 && 'ContainerConfig' in v145);
  assert.deepEqual(Object.keys(v145), [...Object.keys(v145)].sort(), 'below 1.52 dockerd re-marshals through a map: keys sorted');
  assert.equal(v145.Author, '');
  const v152 = inspectImageFor('1.52', IMG, { author: 'me' }, 'overlay');
  assert.deepEqual(Object.keys(v152), ['Id', 'RepoTags', 'RepoDigests', 'Created', 'Container', 'ContainerConfig', 'Author', 'Config', 'Architecture', 'Os', 'Size',
    'GraphDriver', 'RootFS', 'Metadata']);
  assert.equal(v152.Created, '2024-01-01T00:00:00Z');
  assert.equal(inspectImageFor('1.43', { ...IMG, created: '' }, null).Created, '0001-01-01T00:00:00Z');
  assert.ok(!('Created' in inspectImageFor('1.44', { ...IMG, created: '' }, null)));
  assert.ok(!('Parent' in v152) && !('Comment' in v152) && !('DockerVersion' in v152));
  // a set Parent or DockerVersion comes back through dockerd's compat wrapper: sorted again
  const withParent = inspectImageFor('1.52', { ...IMG, parent: 'sha256:pp' }, null, 'overlay');
  assert.equal(withParent.Parent, 'sha256:pp');
  assert.deepEqual(Object.keys(withParent), [...Object.keys(withParent)].sort());
});

test('imageSummaryFor: <none> below 1.43, VirtualSize below 1.44, the container count from 1.51', () => {
  const untagged = { ...IMG, repoTags: [] };
  const f = { repoTags: [], repoDigests: [], containers: 2 };
  const v141 = imageSummaryFor('1.41', untagged, f);
  assert.deepEqual([v141.RepoTags, v141.RepoDigests, v141.VirtualSize, v141.Containers, v141.SharedSize], [['<none>:<none>'], ['<none>@<none>'], 10, -1, -1]);
  // API 1.41 kept dockerd 20.10's null for an empty list beside a full one
  assert.equal(imageSummaryFor('1.41', IMG, { repoTags: ['busybox:latest'], repoDigests: [], containers: 0 }).RepoDigests, null);
  const v143 = imageSummaryFor('1.43', untagged, f);
  assert.deepEqual([v143.RepoTags, v143.RepoDigests, v143.VirtualSize], [[], [], 10]);
  const v151 = imageSummaryFor('1.51', untagged, { ...f, sharedSize: 5 });
  assert.deepEqual([v151.Containers, v151.SharedSize, 'VirtualSize' in v151], [2, 5, false]);
  assert.equal(imageSummaryFor('1.50', untagged, f).Containers, -1);
  assert.equal(imageSummaryFor('1.41', untagged, { ...f, diskUsage: true }).Containers, 2);
  assert.deepEqual(Object.keys(imageSummaryFor('1.41', IMG, f)), ['Id', 'ParentId', 'RepoTags', 'RepoDigests', 'Created', 'Size', 'SharedSize', 'VirtualSize', 'Labels', 'Containers']);
  const labelled = { ...IMG, config: { ...IMG.config, Labels: { z: '1', a: '2' } } };
  const v152 = imageSummaryFor('1.52', labelled, f);
  assert.deepEqual(Object.keys(v152), ['Containers', 'Created', 'Id', 'Labels', 'ParentId', 'RepoDigests', 'RepoTags', 'SharedSize', 'Size']);
  assert.deepEqual(Object.keys(v152.Labels as object), ['a', 'z']);
});

test('sharedSize: the bytes of layers another image has too', () => {
  const other: ImageRecord = { ...IMG, id: 'sha256:bb', chainIds: ['c1', 'c2'], layerSizes: [10, 4] };
  assert.equal(sharedSize(other, [IMG, other]), 10);
  assert.equal(sharedSize(IMG, [IMG]), 0);
});
