// The task event messages the sandboxer publishes, by short name.
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  TaskCreateSchema, TaskDeleteSchema, TaskExecAddedSchema, TaskExecStartedSchema, TaskExitSchema, TaskOOMSchema,
  TaskPausedSchema, TaskResumedSchema, TaskStartSchema,
} from '../../gen/github.com/containerd/containerd/api/events/task_pb.js';

export const SCHEMAS = {
  create: TaskCreateSchema,
  start: TaskStartSchema,
  exit: TaskExitSchema,
  delete: TaskDeleteSchema,
  execAdded: TaskExecAddedSchema,
  execStarted: TaskExecStartedSchema,
  oom: TaskOOMSchema,
  paused: TaskPausedSchema,
  resumed: TaskResumedSchema,
} as const;

export type EventKind = keyof typeof SCHEMAS;
export type EventInit<K extends EventKind> = MessageInitShape<(typeof SCHEMAS)[K]>;

/** containerd's "never": 0001-01-01T00:00:00Z, what Go's zero time.Time marshals to. */
const NEVER_SECONDS = -62135596800n;

export function ts(d: Date | null | undefined): Timestamp {
  return d ? timestampFromDate(d) : ({ seconds: NEVER_SECONDS, nanos: 0 } as Timestamp);
}
