// Socket addresses as the containerd world writes them.
import { invalidArgument } from '../common/errors.js';

/**
 * A path for net.connect from an address tsula itself names: a filesystem path,
 * `unix:///abs/path`, `ttrpc+unix:///abs/path` (the sandbox API's task address form),
 * or `unix://@name` / `@name` for an abstract socket.
 */
export function socketPath(address: string): string {
  let a = address;
  if (a.startsWith('ttrpc+')) a = a.slice('ttrpc+'.length);
  if (a.startsWith('unix://')) a = a.slice('unix://'.length);
  if (a.startsWith('@')) return '\0' + a.slice(1);
  if (a.startsWith('\0') || a.startsWith('/')) return a;
  throw invalidArgument(`unsupported ttrpc address "${address}" (want unix:///absolute/path)`);
}

/**
 * A path for net.connect from the address a shim v2 `start` printed (containerd 1.6
 * shim/util_unix.go): `unix:///abs` is a filesystem socket; anything without the
 * `unix://` prefix is an abstract socket named by the whole string.
 */
export function shimSocketPath(address: string): string {
  const a = address.trim();
  if (a.startsWith('unix://')) return a.slice('unix://'.length);
  if (!a) throw invalidArgument('empty shim address');
  return '\0' + a;
}
