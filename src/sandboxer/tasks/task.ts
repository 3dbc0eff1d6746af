// A task (a container's init process) and its execs as the task manager holds them.
import type { Process } from '../../oci/types.js';
import type { TaskRecord } from './records.js';
import type { FifoPaths, TaskIo } from './io.js';
import type { RootMount } from './mounts.js';

export interface ExitInfo { pid: number; exitStatus: number; exitedAt: Date | null }

export interface CreateTask extends FifoPaths {
  id: string;
  bundle: string;
  rootfs: RootMount[];
  terminal: boolean;
  /** A vmm.toml from containerd's runtime options: the task gets a VM sandbox of its own. */
  configPath?: string;
}

export interface ExecEntry {
  execId: string;
  dir: string;
  process: Process;
  paths: FifoPaths;
  io: TaskIo | null;
  pid: number;
  status: 'created' | 'running' | 'stopped';
  exitStatus: number;
  exitedAt: Date | null;
  waiters: Array<() => void>;
  /** Its Start failed: it stays created, and a Wait returns at once (runc-v2's closed waitBlock). */
  startFailed?: boolean;
  /** The runtime's own signalling (a guest pid means nothing here); absent: a host pid. */
  kill?: (signal: number) => Promise<void>;
}

/** Resolve every Wait pending on a task or exec (each once). */
export function wake(waiters: Array<() => void>): void {
  for (const w of waiters.splice(0)) w();
}

export class Task {
  io: TaskIo | null = null;
  waiters: Array<() => void> = [];
  execs = new Map<string, ExecEntry>();
  /** Stops hearing the task's OOM kills (its runtime's watchOom). */
  stopOomWatch?: () => void;
  /** A TaskOOM went out while it ran: its exit needs none more. */
  oomPublished = false;
  /**
   * Set while a Start is under way, resolved once its TaskStart is queued: a process that
   * is OOM-killed or exits at once has its TaskOOM and TaskExit wait for it (containerd
   * expects start, then oom, then exit, as runc-v2 sends them).
   */
  starting?: Promise<void>;
  /** A Delete of it under way: another one waits for it, then is runc-v2's NotFound. */
  removing?: Promise<unknown>;
  constructor(public rec: TaskRecord) {}

  /** Stop hearing its OOM kills and close our ends of its and its execs' stdio (the processes are the runtime's). */
  letGo(): void {
    this.stopOomWatch?.();
    this.io?.close();
    for (const e of this.execs.values()) e.io?.close();
  }
}

export function exitOf(r: TaskRecord): ExitInfo {
  return { pid: r.pid, exitStatus: r.exitStatus ?? 0, exitedAt: r.exitedAt ? new Date(r.exitedAt) : null };
}
