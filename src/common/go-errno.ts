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

const CONNECT_ERRNOS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A failed dial in Go's words (net.Dial's "dial tcp H:P: connect: …"), as dockerd's errors carry them (scripts grep "connection refused"); undefined when it is no dial's. */
export function goDialError(err: unknown, url: URL): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  const code = e?.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `dial tcp: lookup ${url.hostname}: ${code === 'ENOTFOUND' ? 'no such host' : 'temporary failure in name resolution'}`;
  }
  // a dial's timeout is in Go's dialer's own words, a refused connect in its errno's
  const what = code === 'ETIMEDOUT' ? 'i/o timeout' : CONNECT_ERRNOS.has(code) ? `connect: ${goErrnoText(e)}` : undefined;
  if (!what) return undefined;
  const port = e.port ?? (url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = e.address ? (e.address.includes(':') ? `[${e.address}]` : e.address) : url.hostname;
  return `dial tcp ${host}:${port}: ${what}`;
}
