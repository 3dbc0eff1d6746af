// Fault injection for crash tests: TSULA_FAULT=<point>[@<n>] makes the daemon SIGKILL itself
// the n-th time (default: the first) it reaches that named point, so a test can cut a
// create, start, exit or rm at an exact step and check what recovery makes of it. Without
// the variable every hit is a no-op (one string compare).

/** The named points; each caller says in a comment what is on disk when it is hit. */
export type FaultPoint =
  | 'create:before-save'      // snapshot and etc files made, record not written
  | 'start:after-conmon'      // conmon spawned, runc create may be running, no pid yet
  | 'start:after-create'      // runc state "created", runc init waiting, conmon alive
  | 'start:after-start'       // runc start done, record still says "created"
  | 'exit:before-save'        // exit known in memory, record still says "running"
  | 'exit:after-save'         // record says "exited", runtime state and exit file still there
  | 'rm:before-mark'          // removal under way, nothing marked: an exit meanwhile left no record
  | 'rm:after-mark'           // removal marked, nothing deleted yet
  | 'rm:after-snapshot'       // writable layer gone, record directory still there
  | 'start:after-mount'       // rootfs mounted (the network set up), no conmon yet
  | 'start:after-stage'       // rootfs mounted, volume subpaths bound at their staging paths, no conmon yet
  | 'load:after-layers'       // a load's layers unpacked, no blob committed, no record written
  | 'rmi:after-record'        // an image's record deleted, its layers not yet
  | 'commit:after-pause'      // docker commit paused the container, its layer not read yet
  | 'volume:after-rename'     // volume rm: the volume's dir moved aside, its files not deleted
  | 'network:after-bridge'    // network rm: the bridge and leases gone, the record still there
  | 'connect:after-add'       // network connect: the CNI ADD done, the record not written
  | 'pod:after-holder'        // a pod's PID namespace holder runs, its record does not name it
  | 'sandbox:after-start';    // (tsula-sandboxer) the kind's holder or VM runs, the record says starting

export interface Faults {
  hit(point: FaultPoint): void;
}

export const NO_FAULTS: Faults = { hit: () => {} };

/** Parse TSULA_FAULT; a malformed value is ignored (tests only set it on purpose). */
export function faultsFromEnv(value: string | undefined, kill: () => void = () => process.kill(process.pid, 'SIGKILL')): Faults {
  const m = /^([a-z]+:[a-z-]+)(?:@(\d+))?$/.exec(value?.trim() ?? '');
  if (!m) return NO_FAULTS;
  const point = m[1];
  let left = m[2] ? Math.max(1, Number(m[2])) : 1;
  return {
    hit(p) {
      if (p !== point || --left > 0) return;
      kill();
    },
  };
}
