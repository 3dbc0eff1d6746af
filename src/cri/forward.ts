// Port-forward into a pod: one TCP connection to localhost:<port> inside the pod's network
// namespace per forwarded stream. Node cannot enter a namespace, so `socat` does it under
// `nsenter --net` (dockershim's way). As containerd's portForward: once one direction ends
// (the pod closed its side, or the client half-closed), the other gets a second to finish,
// then the connection goes, and with it the stream pair (kubectl's side waits for that
// before it closes its local connection: a pod that closes is seen to close).
// A pod that is a sandbox of a sandboxer (a VM) has its own network stack: its containers'
// localhost is the guest's, and the netns' own stack sees none of the pod's packets (the
// tc redirects hand them all to the guest). There the connection goes to the pod's IP from
// the host instead (containerd/cri #804 did the same for kata), through the pod network.
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { failedPrecondition, unavailable } from '../common/errors.js';
import type { PodRecord } from '../engine/pods/record.js';

/** Forward one stream to the pod's port: in its netns (runc pods), on the node (host-network pods), or to its IP (sandbox pods). */
export function forwardToPod(pod: PodRecord, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  // a pod on the node's network: its localhost is the node's (containerd dials it directly)
  if (!pod.sandbox && pod.spec.namespaces.network === 'node') return forwardToAddress('127.0.0.1', port, stream, signal);
  if (!pod.sandbox) return forwardIntoNetns(pod.netnsPath, port, stream, signal);
  if (!pod.ip) throw failedPrecondition(`pod ${pod.id} runs in a sandbox (${pod.sandbox.kind}) and has no IP: port-forward reaches a VM pod through its pod network address`);
  return forwardToAddress(pod.ip, port, stream, signal);
}

/** containerd's grace for the other direction once one has ended (socat's -t). */
export const CLOSE_GRACE_MS = 1000;

/** One TCP connection from the host to ip:port; once one direction ends, the other has CLOSE_GRACE_MS. */
export function forwardToAddress(ip: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ip, port, allowHalfOpen: true });
    let connected = false;
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => sock.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    const oneEnded = () => { grace ??= setTimeout(() => sock.destroy(), CLOSE_GRACE_MS); };
    sock.once('connect', () => {
      connected = true;
      sock.pipe(stream, { end: true });
      stream.pipe(sock, { end: true });
      sock.once('end', oneEnded);
      stream.once('end', oneEnded);
    });
    stream.on('error', () => sock.destroy());
    sock.on('error', (e) => {
      if (!connected) reject(unavailable(`port-forward to port ${port} of ${ip}: ${e.message}`));
    });
    sock.on('close', () => {
      clearTimeout(grace);
      signal.removeEventListener('abort', onAbort);
      stream.unpipe(sock);
      if (connected || signal.aborted) resolve();
    });
  });
}


export function forwardIntoNetns(netnsPath: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  if (!netnsPath) throw failedPrecondition('the pod uses the node\'s network: connect to the port on the node directly');
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, '--', 'socat', '-t', String(CLOSE_GRACE_MS / 1000), '-', `TCP4:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    let wrote = false;
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout.on('data', () => { wrote = true; });
    child.stdout.pipe(stream, { end: true });
    stream.pipe(child.stdin);
    child.stdin.on('error', () => { /* socat gone: its exit says why */ });
    stream.on('error', () => child.kill('SIGKILL'));
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      reject(e.code === 'ENOENT' ? unavailable('port-forward needs socat and nsenter (apt-get install socat util-linux)') : e);
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      stream.unpipe(child.stdin);
      if (code === 0 || signal.aborted || wrote) { resolve(); return; }
      // socat's "Connection refused": nothing listens on that port in the pod
      reject(unavailable(`port-forward to port ${port}: ${err.trim().split('\n').pop()?.replace(/^.*E /, '') || `socat exited ${code}`}`));
    });
  });
}
