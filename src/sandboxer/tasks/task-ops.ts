// What the task manager lends the modules that do part of its work (execs.ts): a task's
// runtime and its way to publish a task's events. Types only: importing this loads nothing.
import type { Runtime } from '../../runtime/types.js';
import type { TaskRecord } from './records.js';
import type { Task } from './task.js';
import type { EventInit, EventKind } from './topics.js';

export interface TaskOps {
  /** The task's runtime: its sandbox's own (its exits then wired to the manager), else the host's. */
  rt(rec: TaskRecord): Promise<Runtime>;
  /** A task event to the task's containerd; resolves once sent (or given up on). */
  publish<K extends EventKind>(t: Task, topic: string, kind: K, msg: EventInit<K>): Promise<void>;
}
