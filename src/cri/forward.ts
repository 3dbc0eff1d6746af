// Port-forward into a pod: one TCP connection to localhost:<port> inside the pod's network
// namespace per forwarded stream. Node cannot enter a namespace, so `socat` does it under
// `nsenter --net` (dockershim's way); socat keeps each direction open until its own EOF
// (-t: a half-closed request still gets its whole answer).
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

/** One TCP connection from the host to ip:port, each direction kept open until its own end. */
export function forwardToAddress(ip: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ip, port, allowHalfOpen: true });
    let connected = false;
    const onAbort = () => sock.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => {
      connected = true;
      sock.pipe(stream, { end: true });
      stream.pipe(sock, { end: true });
    });
    stream.on('error', () => sock.destroy());
    sock.on('error', (e) => {
      if (!connected) reject(unavailable(`port-forward to port ${port} of ${ip}: ${e.message}`));
    });
    sock.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      stream.unpipe(sock);
      if (connected || signal.aborted) resolve();
    });
  });
}

/** How long socat keeps reading the pod's answer after the client's EOF. */
const HALF_CLOSE_SECS = 3600;

export function forwardIntoNetns(netnsPath: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  if (!netnsPath) throw failedPrecondition('the pod uses the node\'s network: connect to the port on the node directly');
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, '--', 'socat', '-t', String(HALF_CLOSE_SECS), '-', `TCP4:127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
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
