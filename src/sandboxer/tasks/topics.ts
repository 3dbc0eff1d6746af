// The task event messages the sandboxer publishes, by short name: types only here, so the
// task manager names events without loading protobuf (event-sender.ts has the schemas).
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { TimestampSchema } from '@bufbuild/protobuf/wkt';
import type {
  TaskCreateSchema, TaskDeleteSchema, TaskExecAddedSchema, TaskExecStartedSchema, TaskExitSchema, TaskOOMSchema,
  TaskPausedSchema, TaskResumedSchema, TaskStartSchema,
} from '../../gen/github.com/containerd/containerd/api/events/task_pb.js';

export interface EventSchemas {
  create: typeof TaskCreateSchema;
  start: typeof TaskStartSchema;
  exit: typeof TaskExitSchema;
  delete: typeof TaskDeleteSchema;
  execAdded: typeof TaskExecAddedSchema;
  execStarted: typeof TaskExecStartedSchema;
  oom: typeof TaskOOMSchema;
  paused: typeof TaskPausedSchema;
  resumed: typeof TaskResumedSchema;
}

export type EventKind = keyof EventSchemas;
export type EventInit<K extends EventKind> = MessageInitShape<EventSchemas[K]>;

/** A google.protobuf.Timestamp to be: what create() and toBinary() take for one. */
export type TimestampInit = MessageInitShape<typeof TimestampSchema>;

/** containerd's "never": 0001-01-01T00:00:00Z, what Go's zero time.Time marshals to. */
const NEVER_SECONDS = -62135596800n;

/** A time as protobuf's timestampFromDate makes it, by hand: that one loads protobuf's runtime. */
export function ts(d: Date | null | undefined): TimestampInit {
  if (!d) return { seconds: NEVER_SECONDS, nanos: 0 };
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}
