// A docker seccomp profile's conflicts in dockerd's words (profiles/seccomp setupSeccomp), which clients match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertProfile } from '../../src/oci/seccomp.js';

test('seccomp profile conflicts: dockerd\'s words', () => {
  assert.throws(() => convertProfile({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ name: 'read', names: ['write'], action: 'SCMP_ACT_ALLOW' }] }, { caps: [] }),
    { message: 'both \'name\' and \'names\' are specified in the seccomp profile, use either \'name\' or \'names\'' });
  assert.throws(() => convertProfile({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: null }] }, { caps: [] }),
    { message: 'both \'architectures\' and \'archMap\' are specified in the seccomp profile, use either \'architectures\' or \'archMap\'' });
});
