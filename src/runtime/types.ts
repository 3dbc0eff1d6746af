// The Runtime contract: what the engine asks of any way to run a container (conmon+runc
// here; shim v2 clients and sandboxers implement the same later). The engine never knows
// which kind it drives (iSulad's runtime ops table).
import type { LinuxResources, Spec, Process } from '../oci/types.js';
import type { CgroupStats } from '../cgroups/index.js';
import type { PsProcess } from '../common/ps.js';

export interface CreateRequest {
  id: string;
  bundle: string;        // holds config.json (written by the engine) and the runtime's files
  spec: Spec;
  logPath: string;       // CRI k8s-file log
  /** Bytes the log may reach before the runtime starts it over (undefined: no limit). */
  logSizeMax?: number;
  terminal: boolean;
  stdin: boolean;        // keep a stdin pipe open (docker -i)
  /**
   * The first attached client's end of input (EOF, or its connection going away) closes the
   * container's stdin (docker's StdinOnce without a TTY). False: attaches come and go and
   * stdin stays open.
   */
  stdinOnce: boolean;
  /** How the process' stdio reach it without a terminal, where the runtime has `directStdio`. */
  passthrough?: Passthrough;
}

/**
 * A process' stdio with nobody copying between (conmon's passthrough): open fds given to it as
 * they are, or 'pipes' to us, which attach() (an exec's handle) then gives once as a pausable
 * stream. Ignored for a process with a terminal.
 */
export type Passthrough = StdioFds | 'pipes';

/**
 * Open files a process gets as its stdin/stdout/stderr, with nobody copying between: a reader
 * that stops reading stops the writer, as with containerd-shim-runc-v2's blocking copy.
 */
export interface StdioFds {
  stdin?: number;
  stdout: number;
  stderr: number;
}

export interface ExecRequest {
  containerId: string;
  execId: string;
  dir: string;           // per-exec scratch dir
  process: Process;
  attach: boolean;       // hold stdio for a client (false = detached, output discarded)
  stdin: boolean;
  /** As CreateRequest's (and only with attach: a detached exec's output goes nowhere). */
  passthrough?: Passthrough;
  /**
   * The output ends when the last holder of the process' stdio closes it (a child left in the
   * background too), or when the caller closes the stream, not a moment after the exit.
   */
  holdOutput?: boolean;
}

/** A client's view of a process' stdio: read gives frames, write goes to stdin. */
export interface StdioStream {
  /** Called for each output chunk; stream 1 = stdout, 2 = stderr (TTY output is stdout). */
  onOutput(cb: (stream: 1 | 2, data: Buffer) => void): void;
  onEnd(cb: () => void): void;
  write(data: Buffer): void;
  /** This client's input ended: closes the process' stdin where stdinOnce says so. */
  closeStdin(): void;
  /** This client goes away (a detach); closes stdin only where stdinOnce says so. */
  close(): void;
  /**
   * Stop taking output until resume(), so the process waits on its writes (a reader that
   * keeps up less than the process writes). Absent: output comes whatever the reader does.
   */
  pause?(): void;
  resume?(): void;
  /**
   * This client goes away, but the process must not notice: its output is read and dropped
   * until it ends (a stream whose only reader is ours: conmon's passthrough pipes). Absent:
   * close() leaves the process to its monitor, which reads on.
   */
  discard?(): void;
}

export interface ExecHandle {
  pid: number;
  stdio: StdioStream | null;
  /** Resolves with the exit code (128+N for a signal). */
  exited: Promise<number>;
  /** Signal the process where its pid means something (absent: pid is a host pid). */
  kill?(signal: number): Promise<void>;
}

export interface RuntimeState {
  status: 'created' | 'running' | 'paused' | 'stopped' | 'unknown';
  pid: number;
  /** When the runtime created the container, where it says. */
  createdAt?: Date;
}

export interface RuntimeMachine {
  memoryBytes: number;
}

export interface Runtime {
  readonly name: string;
  /**
   * Its containers run under a kernel of their own (a VM): the host's device nodes mean
   * nothing there, so a privileged container gets none of them (containerd's
   * privileged_without_host_devices, which kata's configurations set).
   */
  readonly guestKernel?: boolean;
  /** It takes `passthrough` for a process without a terminal. */
  readonly directStdio?: boolean;
  /**
   * monitorAlive() may be asked while the engine runs: a monitor it finds dead died with no
   * exit reported (conmon killed from outside), not one being restarted (a sandboxer's).
   */
  readonly monitorsPollable?: boolean;
  /** Create the container (process not yet running); returns the init pid. */
  create(req: CreateRequest): Promise<number>;
  start(id: string): Promise<void>;
  kill(id: string, signal: string, all?: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Forget the runtime's state of a stopped container (force kills first). */
  delete(id: string, bundle: string, force: boolean): Promise<void>;
  /**
   * An exited container's state that holds no part of its exit may go while the engine records
   * the exit (off the exit's critical path); delete() then does the rest. Absent: all of it
   * waits for delete(), after the record (a shim's task holds its exit until Delete).
   */
  forgetState?(id: string): Promise<void>;
  state(id: string): Promise<RuntimeState | null>;
  pids(id: string): Promise<number[]>;
  /**
   * The container's processes as its own kernel tells them (a VM's guest), for docker top.
   * Absent: the host's ps sees them (pids() names them).
   */
  processes?(id: string): Promise<PsProcess[]>;
  /** Change a live container's cgroup limits (docker update); fields left out stay as they are. */
  update(id: string, bundle: string, resources: LinuxResources): Promise<void>;
  /** Attach to the container's stdio (after create). */
  attach(id: string, bundle: string): Promise<StdioStream>;
  resize(id: string, bundle: string, height: number, width: number): Promise<void>;
  exec(req: ExecRequest): Promise<ExecHandle>;
  resizeExec(dir: string, height: number, width: number): Promise<void>;
  /**
   * Did the kernel's OOM killer end the container (read at its exit, before delete)? Absent:
   * the engine reads the OOM kill count of the container's host cgroup itself.
   */
  oomKilled?(id: string, bundle: string): Promise<boolean>;
  /**
   * Hear each OOM kill in the container's cgroup as it happens (any of its processes);
   * returns the function that stops listening. Absent: only oomKilled at the exit says.
   */
  watchOom?(id: string, bundle: string, cb: () => void): () => void;
  /** A task event its shim or sandboxer published to tsulad (shim v2 runtimes; topic as containerd's). */
  taskEvent?(topic: string, containerId: string): void;
  /**
   * What the container's cgroup uses now (containerd's Task Stats); null when it has none
   * (not running). Absent: the runtime cannot say (the engine reads host cgroups itself).
   */
  stats?(id: string, bundle: string): Promise<CgroupStats | null>;
  /**
   * The machine of the container's own kernel (a VM's size), which is what its processes see
   * as all there is; null or absent: the host's.
   */
  machine?(id: string): Promise<RuntimeMachine | null>;
  /** Reopen the container's log file (rotated away by kubelet). Absent: not supported. */
  reopenLog?(id: string, bundle: string): Promise<void>;
  /**
   * Register the exit callback; also reports exits that happened while we were down. The
   * callback's false says "no container of mine" (the name is not kept as reported).
   */
  watchExits(cb: (id: string, exitCode: number, exitedAt: Date) => boolean | void): Promise<void>;
  /** Whether the runtime holds state under id (runc's root dir), without running it. Absent: unknown. */
  hasState?(id: string): Promise<boolean>;
  /** An exit already recorded for id (exit file), if any. */
  exitStatus(id: string): Promise<{ code: number; at: Date } | null>;
  /** Is the monitor of this container still alive (live restore)? */
  monitorAlive(id: string, bundle: string): Promise<boolean>;
  /**
   * Recovery: make the container not exist in the runtime at all, whatever step a crash cut
   * short: its monitor stopped without reporting an exit, its processes killed, its state and
   * recorded exit deleted. Missing pieces are not errors. Absent: delete(force) is used.
   */
  discard?(id: string, bundle: string): Promise<void>;
  /** Recovery: every id the runtime holds state or a monitor for, to find orphans. */
  containerIds?(): Promise<string[]>;
  close(): void;
}
