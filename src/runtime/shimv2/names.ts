// Runtime names of the shim v2 contract (containerd 1.6 runtime/v2/binary.go), apart from
// the shim client so that naming a runtime does not load protobuf and ttrpc.
import { invalidArgument } from '../../common/errors.js';
import { which } from '../../common/which.js';

const RUNTIME_RE = /^io\.containerd\.[a-z0-9_-]+\.v[0-9]+$/;

export function isShimV2RuntimeName(name: string): boolean {
  return RUNTIME_RE.test(name) && name.endsWith('.v2');
}

/** io.containerd.runc.v2 → containerd-shim-runc-v2 (the last two dot-separated parts). */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2 || parts.some((p) => !p || p.includes('/'))) throw invalidArgument(`invalid shim v2 runtime name "${runtime}"`);
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

/** containerd looks on PATH and next to itself; we look on PATH, then /usr/local/bin, /usr/bin. */
export async function findShimBinary(runtime: string): Promise<string | null> {
  const name = shimBinaryName(runtime);
  return (await which(name)) ?? (await which(`/usr/local/bin/${name}`)) ?? (await which(`/usr/bin/${name}`));
}
