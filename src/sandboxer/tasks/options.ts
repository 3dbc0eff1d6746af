// CreateTaskRequest.options from containerd: for a runtime that is not runc, `ctr run
// --runtime-config-path FILE` (and CRI's runtime options) arrive as runtimeoptions.v1.Options
// (kata reads its configuration.toml from there). For tsula the file is a vmm.toml: the
// task then runs in a VM sandbox of its own, configured by that file.
import { fromBinary } from '@bufbuild/protobuf';
import { OptionsSchema } from '../../gen/github.com/containerd/containerd/pkg/runtimeoptions/v1/api_pb.js';
import { invalidArgument } from '../../common/errors.js';

export const RUNTIME_OPTIONS_TYPE = 'runtimeoptions.v1.Options';

/** The config file named by the task's runtime options, or '' (other options are not ours). */
export function runtimeConfigPath(o: { typeUrl: string; value: Uint8Array } | undefined): string {
  // the type URL is the bare message name (gogo) or carries a types.containerd.io/ prefix
  if (!o || o.typeUrl.slice(o.typeUrl.lastIndexOf('/') + 1) !== RUNTIME_OPTIONS_TYPE) return '';
  try {
    return fromBinary(OptionsSchema, o.value).configPath;
  } catch (e) {
    throw invalidArgument(`task options ${o.typeUrl}: ${(e as Error).message}`);
  }
}
