// What the streaming tests run crictl against: a small CRI gRPC server in the test process
// (grpc-js, the generated RuntimeService/ImageService) whose Exec/Attach/PortForward return
// URLs of a real StreamingServer, and a fake runtime whose "containers" are local processes
// (a pty from python3 for tty sessions) and whose pod ports are TCP servers of the test.
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex, Writable } from 'node:stream';
import type { DescMethod } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { RuntimeService, ImageService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { serviceDefinition, grpcHandlers, type GrpcImpl } from '../../src/common/grpc.js';
import { notFound, unimplemented } from '../../src/common/errors.js';
import {
  StreamingServer, relay, type AttachRequest, type ExecRequest, type ExecResult, type StreamIO, type StreamingRuntime,
  type TerminalSize,
} from '../../src/cri/streaming/index.js';
import { ROOT } from './daemon.js';

/** crictl beside the project (../shared/tools) or on PATH; a test without it fails, saying so. */
export function findCrictl(): string {
  const beside = path.join(ROOT, '../shared/tools/crictl');
  if (existsSync(beside)) return beside;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, 'crictl');
    if (dir && existsSync(p)) return p;
  }
  throw new Error(`crictl (cri-tools v1.29.0) not found at ${beside} nor on PATH: these tests need the real client`);
}

// A pty for tty sessions: the command runs on the slave; stdin/stdout relay to the master;
// lines "ROWS COLS" on fd 3 set the window size (the kernel then sends SIGWINCH); the exit
// status is the command's.
const PTY = `
import os, pty, sys, select, struct, fcntl, termios
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
fds = [0, fd, 3]
buf = b''
while fd in fds:
    r, _, _ = select.select(fds, [], [])
    if 0 in r:
        d = os.read(0, 65536)
        if d: os.write(fd, d)
        else: fds.remove(0)
    if 3 in r:
        d = os.read(3, 4096)
        if not d: fds.remove(3)
        buf += d
        while b'\\n' in buf:
            line, buf = buf.split(b'\\n', 1)
            rows, cols = map(int, line.split())
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    if fd in r:
        try: d = os.read(fd, 65536)
        except OSError: d = b''
        if d: os.write(1, d)
        else: fds.remove(fd)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

/** A container of the fake runtime: a process whose stdio attach sessions share. */
export interface FakeContainer { proc: ChildProcess; output: string }

export class FakeRuntime implements StreamingRuntime {
  readonly execs: ExecRequest[] = [];
  readonly resizes: TerminalSize[] = [];
  readonly containers = new Map<string, FakeContainer>();
  /** Pod port → the local TCP port that plays it. */
  readonly ports = new Map<number, number>();
  readonly forwarded: Array<{ pod: string; port: number }> = [];
  private readonly procs = new Set<ChildProcess>();

  async exec(req: ExecRequest, io: StreamIO, signal: AbortSignal): Promise<ExecResult> {
    this.execs.push(req);
    const proc = req.tty
      ? spawn('python3', ['-c', PTY, ...req.cmd], { stdio: ['pipe', 'pipe', 'inherit', 'pipe'] })
      : spawn(req.cmd[0]!, req.cmd.slice(1), { stdio: 'pipe' });
    this.procs.add(proc);
    const kill = (): void => { proc.kill('SIGKILL'); };
    signal.addEventListener('abort', kill, { once: true });
    proc.stdin!.on('error', () => {});
    if (io.stdin) io.stdin.pipe(proc.stdin!); else proc.stdin!.end();
    if (io.stdout) proc.stdout!.pipe(io.stdout); else proc.stdout!.resume();
    if (proc.stderr) { if (io.stderr) proc.stderr.pipe(io.stderr); else proc.stderr.resume(); }
    if (req.tty && io.resize) {
      const ctl = proc.stdio[3] as Writable;
      ctl.on('error', () => {});
      void (async () => {
        for await (const size of io.resize!) {
          this.resizes.push(size);
          ctl.write(`${size.height} ${size.width}\n`);
        }
      })();
    }
    try {
      const code = await new Promise<number>((resolve, reject) => {
        proc.on('error', reject);
        proc.on('close', (c, sig) => resolve(c ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 255)));
      });
      return { exitCode: code };
    } finally {
      signal.removeEventListener('abort', kill);
      this.procs.delete(proc);
    }
  }

  /** Starts a "container": `sh -c script` with piped stdio, kept for attach. */
  startContainer(id: string, script: string): FakeContainer {
    const proc = spawn('sh', ['-c', script], { stdio: 'pipe' });
    this.procs.add(proc);
    proc.on('close', () => this.procs.delete(proc));
    const c: FakeContainer = { proc, output: '' };
    proc.stdout!.on('data', (d: Buffer) => { c.output += d.toString(); });
    proc.stdin!.on('error', () => {});
    this.containers.set(id, c);
    return c;
  }

  async attach(req: AttachRequest, io: StreamIO, signal: AbortSignal): Promise<void> {
    const c = this.containers.get(req.containerId);
    if (!c) throw notFound(`container ${req.containerId} not found`);
    const out = (d: Buffer): void => { io.stdout?.write(d); };
    const err = (d: Buffer): void => { io.stderr?.write(d); };
    c.proc.stdout!.on('data', out);
    c.proc.stderr!.on('data', err);
    // The client's EOF closes the container's stdin (a StdinOnce container).
    io.stdin?.on('data', (d: Buffer) => c.proc.stdin!.write(d));
    io.stdin?.on('end', () => c.proc.stdin!.end());
    try {
      await new Promise<void>((resolve) => {
        if (c.proc.exitCode !== null) return resolve();
        c.proc.on('close', () => resolve());
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      c.proc.stdout!.off('data', out);
      c.proc.stderr!.off('data', err);
    }
  }

  async portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    this.forwarded.push({ pod: podSandboxId, port });
    const local = this.ports.get(port);
    const socket = net.connect({ host: '127.0.0.1', port: local ?? 1 });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (e) => reject(new Error(`dial tcp4 127.0.0.1:${port}: ${e.message}`)));
    });
    await relay(stream, socket, signal);
  }

  /** Processes of execs and containers still running. */
  get running(): number { return this.procs.size; }

  killAll(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    for (const c of this.containers.values()) c.proc.kill('SIGKILL');
  }
}

/** The CRI server crictl talks to; `calls` lists the RPCs in the order they came. */
export class FakeCri {
  readonly calls: string[] = [];
  readonly sock: string;
  private readonly grpcServer = new grpc.Server();

  private constructor(readonly dir: string, readonly streaming: StreamingServer) {
    this.sock = path.join(dir, 'cri.sock');
  }

  static async start(runtime: StreamingRuntime): Promise<FakeCri> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-cri-streaming-'));
    const streaming = new StreamingServer({ runtime });
    await streaming.start();
    const f = new FakeCri(dir, streaming);
    const s = streaming;
    f.serve(RuntimeService, {
      version: async () => ({ version: '0.1.0', runtimeName: 'tsula-test', runtimeVersion: '0.1.0', runtimeApiVersion: 'v1' }),
      exec: async (req) => s.getExec(req),
      attach: async (req) => s.getAttach(req),
      portForward: async (req) => s.getPortForward(req),
    });
    f.serve(ImageService, {});
    await new Promise<void>((resolve, reject) => f.grpcServer.bindAsync(`unix://${f.sock}`, grpc.ServerCredentials.createInsecure(),
      (e) => (e ? reject(e) : resolve())));
    await fs.writeFile(path.join(dir, 'crictl.yaml'), `runtime-endpoint: unix://${f.sock}\nimage-endpoint: unix://${f.sock}\ntimeout: 10\n`);
    return f;
  }

  /** crictl's argv prefix: its own config file, never the machine's /etc/crictl.yaml. */
  crictlArgs(): string[] {
    return ['--config', path.join(this.dir, 'crictl.yaml')];
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    await this.streaming.stop();
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  /** The given handlers; every other method of the service answers Unimplemented. */
  private serve<M extends GenServiceMethods>(desc: GenService<M>, impl: Partial<GrpcImpl<M>>): void {
    const full: Record<string, (req: unknown, signal: AbortSignal) => Promise<unknown>> = {};
    for (const m of Object.values(desc.method) as DescMethod[]) {
      const given = (impl as Record<string, ((req: unknown, signal: AbortSignal) => Promise<unknown>) | undefined>)[m.localName];
      full[m.localName] = async (req, signal) => {
        this.calls.push(m.name);
        if (!given) throw unimplemented(`${m.name} is not implemented by the test's CRI server`);
        return given(req, signal);
      };
    }
    this.grpcServer.addService(serviceDefinition(desc as GenService<GenServiceMethods>), grpcHandlers(desc, full as unknown as GrpcImpl<M>));
  }
}

// A terminal for crictl itself: the child starts on a pty of ROWS×COLS (set before exec, so
// crictl's first size is known); SIGUSR1 to the relay changes it to ROWS2×COLS2, which
// sends crictl a SIGWINCH as a real terminal would.
const SIZED_PTY = `
import os, pty, sys, select, struct, fcntl, termios, signal
rows, cols, rows2, cols2 = map(int, sys.argv[1:5])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(sys.argv[5], sys.argv[5:])
signal.signal(signal.SIGUSR1, lambda *_: fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows2, cols2, 0, 0)))
fds = [0, fd]
while fd in fds:
    r, _, _ = select.select(fds, [], [])
    if 0 in r:
        d = os.read(0, 65536)
        if d: os.write(fd, d)
        else: fds.remove(0)
    if fd in r:
        try: d = os.read(fd, 65536)
        except OSError: d = b''
        if d: os.write(1, d)
        else: fds.remove(fd)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

export class SizedPty {
  output = '';
  readonly exited: Promise<number>;
  private readonly proc: ChildProcess;

  constructor(argv: string[], size: { rows: number; cols: number }, next: { rows: number; cols: number }) {
    this.proc = spawn('python3', ['-c', SIZED_PTY, String(size.rows), String(size.cols), String(next.rows), String(next.cols), ...argv],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => { this.output += d.toString('latin1'); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.output += d.toString('latin1'); });
    this.proc.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code ?? -1)));
  }

  type(keys: string): void { this.proc.stdin!.write(Buffer.from(keys, 'latin1')); }

  /** The terminal takes its second size. */
  resize(): void { this.proc.kill('SIGUSR1'); }

  kill(): void { if (this.proc.exitCode === null) this.proc.kill('SIGKILL'); }
}
