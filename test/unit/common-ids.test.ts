import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CONTAINER_NAME, validateName, validateRef } from '../../src/common/ids.js';

test('container names: docker\'s characters; as long as kubelet\'s names of CRI containers get, within a bound', () => {
  assert.equal(validateName('/web'), 'web');
  // k8s_<63>_<253>_<63>_<uuid>_<attempt>: ~430 characters
  const kubelet = `k8s_${'c'.repeat(63)}_${'p'.repeat(253)}_${'n'.repeat(63)}_${'u'.repeat(36)}_0`;
  assert.equal(validateName(kubelet), kubelet);
  assert.equal(validateRef(kubelet), kubelet);
  assert.throws(() => validateName('x'.repeat(MAX_CONTAINER_NAME + 1)), /65537 characters, at most 65536 are allowed/);
  // two characters at least (docker's validContainerNamePattern; iSulad's rename.sh)
  assert.equal(validateName('ab'), 'ab');
  for (const bad of ['-x', 'a b', 'a/b', 'a..b', '', 'a', '/1']) assert.throws(() => validateName(bad), /only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed/, bad);
  // a network's name is its IPAM dir's
  assert.throws(() => validateName('n'.repeat(254), 253), /at most 253/);
});
