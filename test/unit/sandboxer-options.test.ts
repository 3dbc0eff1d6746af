// containerd's runtime options for a non-runc shim (runtimeoptions.v1.Options), as
// `ctr run --runtime-config-path` sends them: the config path is the task's vmm.toml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { OptionsSchema } from '../../src/gen/github.com/containerd/containerd/pkg/runtimeoptions/v1/api_pb.js';
import { runtimeConfigPath } from '../../src/sandboxer/tasks/options.js';

const bytes = (configPath: string) => toBinary(OptionsSchema, create(OptionsSchema, { configPath }));

test('runtimeoptions.v1.Options: its config_path (field 2), with or without a type URL prefix', () => {
  assert.equal(runtimeConfigPath({ typeUrl: 'runtimeoptions.v1.Options', value: bytes('/etc/tsula/vmm.toml') }), '/etc/tsula/vmm.toml');
  assert.equal(runtimeConfigPath({ typeUrl: 'types.containerd.io/runtimeoptions.v1.Options', value: bytes('/x.toml') }), '/x.toml');
  // field 2, wire type 2, by hand: what a Go client puts on the wire
  assert.equal(runtimeConfigPath({ typeUrl: 'runtimeoptions.v1.Options', value: Uint8Array.from([0x12, 3, 0x2f, 0x61, 0x62]) }), '/ab');
});

test('other options are not ours; garbage is an invalid argument', () => {
  assert.equal(runtimeConfigPath(undefined), '');
  assert.equal(runtimeConfigPath({ typeUrl: 'containerd.runc.v1.Options', value: bytes('/x') }), '');
  assert.throws(() => runtimeConfigPath({ typeUrl: 'runtimeoptions.v1.Options', value: Uint8Array.from([0x12, 40, 1]) }), /task options runtimeoptions\.v1\.Options/);
});
