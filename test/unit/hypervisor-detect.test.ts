// Accelerator choice from host facts: KVM only with /dev/kvm AND vmx/svm (a kvm_pvm host
// has /dev/kvm without the flags, and stock kernels hang under it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { chooseAccel, hostFacts } from '../../src/hypervisor/detect.js';

const cpu = (flags: string) => `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags}\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`;

test('vmx or svm with /dev/kvm → kvm', () => {
  assert.equal(chooseAccel({ kvmDevice: true, cpuinfo: cpu('fpu vme vmx sse2') }).accel, 'kvm');
  assert.equal(chooseAccel({ kvmDevice: true, cpuinfo: cpu('fpu svm sse2') }).accel, 'kvm');
});

test('/dev/kvm without vmx/svm (kvm_pvm) → tcg, saying why', () => {
  const c = chooseAccel({ kvmDevice: true, cpuinfo: cpu('fpu vme sse2 hypervisor') });
  assert.equal(c.accel, 'tcg');
  assert.match(c.reason, /no vmx\/svm/);
});

test('no /dev/kvm → tcg, even with the flags; flags are matched as words', () => {
  assert.equal(chooseAccel({ kvmDevice: false, cpuinfo: cpu('vmx') }).accel, 'tcg');
  assert.equal(chooseAccel({ kvmDevice: true, cpuinfo: cpu('vmxx svm_lock') }).accel, 'tcg');
});

test('hostFacts reads the given files; a regular file is not a kvm device', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-detect-'));
  try {
    await fs.writeFile(path.join(dir, 'cpuinfo'), cpu('vmx'));
    await fs.writeFile(path.join(dir, 'kvm'), '');
    const f = await hostFacts(path.join(dir, 'kvm'), path.join(dir, 'cpuinfo'));
    assert.equal(f.kvmDevice, false);
    assert.match(f.cpuinfo, /vmx/);
    assert.equal((await hostFacts('/dev/null', path.join(dir, 'cpuinfo'))).kvmDevice, true);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
