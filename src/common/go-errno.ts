// Go's words for an errno (syscall.Errno.Error(), from zerrors_linux): dockerd's and
// containerd's errors carry them, and scripts grep them ("address already in use",
// "connection refused"); Node's messages carry libuv's prefixes instead.
const TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ECONNREFUSED: 'connection refused',
  EEXIST: 'file exists',
  EHOSTUNREACH: 'no route to host',
  EINVAL: 'invalid argument',
  EISDIR: 'is a directory',
  ENETUNREACH: 'network is unreachable',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
  EPERM: 'operation not permitted',
  ETIMEDOUT: 'connection timed out',
};

/** Go's text for a Node error's errno code; undefined when the code is none of these. */
export function goErrnoText(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code ? TEXT[code] : undefined;
}
