// What the task manager lends the modules that do part of its work (create.ts, execs.ts):
// its runtimes, its records, the sandboxes and its way to publish a task's events. Types
// only: importing this loads nothing.
import type { Runtime } from '../../runtime/types.js';
import type { Sandboxes } from '../sandboxes.js';
import type { TaskRecord, TaskRecords } from './records.js';
import type { Task } from './task.js';
import type { EventInit, EventKind } from './topics.js';

export interface TaskOps {
  /** The host's runtime (conmon + runc). */
  runtime: Runtime;
  records: TaskRecords;
  sandboxes: Sandboxes;
  /** The kind of a pod's sandbox that names none. */
  defaultKind: string;
  /** The task's runtime: its sandbox's own (its exits then wired to the manager), else the host's. */
  rt(rec: TaskRecord): Promise<Runtime>;
  /** Take `id` as a host task's runtime id if no task holds it (runc's root is shared by every namespace). */
  claimRuntimeId(id: string): boolean;
  /** Give back an id a create claimed and did not use. */
  releaseRuntimeId(id: string): void;
  /** A task event to the task's containerd; resolves once sent (or given up on). */
  publish<K extends EventKind>(t: Task, topic: string, kind: K, msg: EventInit<K>): Promise<void>;
}
