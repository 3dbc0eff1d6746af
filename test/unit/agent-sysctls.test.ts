// The agent's SetSysctls (a VM pod's net.* sysctls, written once in the guest's network
// namespace): against a directory standing for /proc/sys, no VM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyNetSysctls, checkNetSysctl, sysctlFile } from '../../src/agent/sysctls.js';

test('net.* sysctls are written under /proc/sys as runc names the files; a missing knob and a bad name fail naming the sysctl', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sysctl-'));
  try {
    await fs.mkdir(path.join(root, 'net/ipv4/conf/eth0'), { recursive: true });
    for (const f of ['net/ipv4/ip_unprivileged_port_start', 'net/ipv4/ping_group_range', 'net/ipv4/conf/eth0/rp_filter']) await fs.writeFile(path.join(root, f), 'old');
    applyNetSysctls({ 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.conf.eth0.rp_filter': '2' }, root);
    assert.equal(readFileSync(path.join(root, 'net/ipv4/ip_unprivileged_port_start'), 'utf8'), '0');
    assert.equal(readFileSync(path.join(root, 'net/ipv4/ping_group_range'), 'utf8'), '0 2147483647');
    assert.equal(readFileSync(path.join(root, 'net/ipv4/conf/eth0/rp_filter'), 'utf8'), '2');
    assert.equal(sysctlFile('net.ipv4.conf.eth0/1.rp_filter', root), `${root}/net/ipv4/conf/eth0/1/rp_filter`);
    assert.throws(() => applyNetSysctls({ 'net.ipv4.no_such_knob': '1' }, root), /sysctl "net\.ipv4\.no_such_knob": open .*net\/ipv4\/no_such_knob: no such file or directory/);
    // checked before anything is written
    assert.throws(() => applyNetSysctls({ 'net.ipv4.ping_group_range': '5 6', 'net..x': '1' }, root), /sysctl "net\.\.x" is not a valid sysctl name/);
    assert.equal(readFileSync(path.join(root, 'net/ipv4/ping_group_range'), 'utf8'), '0 2147483647');
    for (const bad of ['net.ipv4/../../etc', 'net.', 'net.a b', '']) assert.throws(() => checkNetSysctl(bad), /is not a valid sysctl name/, bad);
    assert.throws(() => checkNetSysctl('kernel.shm_rmid_forced'), /only net\.\* sysctls/);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
