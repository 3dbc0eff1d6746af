// How tsulad and tsula-sandboxer start node: the V8 flags and the environment (bin/tsulad and
// bin/tsula-sandboxer carry the same in their shebang; a unit test keeps them equal).
//
// V8 flags: both daemons spend their time waiting on runc, conmon, QEMU and the disk:
// optimised JIT code buys them nothing measurable (bench/engine.mjs and bench/pull.mjs: same
// latency and pull time), while V8's lite mode (interpreter only, feedback allocated lazily)
// keeps ~10 MB less at idle and ~30 MB less after a burst of runs or a pull. WebAssembly
// needs the JIT; nothing of ours uses it, and saying so spares V8's "disabling flag
// --expose_wasm" warning in the log.
//
// NODE_EXTRA_CA_CERTS: node 20 reads and parses the PEM file it names at start-up, whether
// or not the process ever speaks TLS (Debian's whole bundle there: ~30 ms and ~1.8 MB of RSS
// for the process's lifetime). The sandboxer and the CLI speak no TLS, so it is unset for
// them; tsulad dials registries, so its launcher hands the name over as
// TSULA_NODE_EXTRA_CA_CERTS and the registry client reads the file on its first TLS dial
// (src/image/registry/trust.ts).
//
// --expose-gc: for common/idle-gc.ts, two full collections once a busy spell is over.
export const DAEMON_V8_FLAGS: readonly string[] = ['--lite-mode', '--no-expose-wasm', '--expose-gc'];

/**
 * glibc malloc tunables (man mallopt) for the daemons' own node: freed memory above 64 KiB at
 * the heap's top goes back to the system at once, and buffers of 64 KiB and more come from
 * mmap (returned when freed), instead of staying in the heap after a pull or a burst of runs
 * (bench/engine.mjs: ~1.5 MB less RSS at idle). One arena: libuv's pool threads and V8's
 * would each keep an arena's worth of freed pieces (~0.8 MB less at idle); the event loop
 * thread does nearly all the mallocs, so there is no lock to contend for (100 parallel runs:
 * the same CPU per run). Set by the launchers; the daemons take them out of the environment
 * their children (runc, conmon, QEMU, CNI plugins) inherit.
 */
export const MALLOC_TUNABLES: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: '65536', MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_ARENA_MAX: '1' };

/** At a daemon's start: its children get the environment without MALLOC_TUNABLES. */
export function dropMallocTunables(env: NodeJS.ProcessEnv = process.env): void {
  for (const k of Object.keys(MALLOC_TUNABLES)) delete env[k];
}

/** The variable bin/tsulad moves NODE_EXTRA_CA_CERTS to. */
export const EXTRA_CA_CERTS_DEFERRED = 'TSULA_NODE_EXTRA_CA_CERTS';

/** bin/<daemon>'s first line: env(1) unsets, or defers, NODE_EXTRA_CA_CERTS, sets the malloc tunables and runs node with the flags. */
export function daemonShebang(daemon: 'tsulad' | 'tsula-sandboxer'): string {
  const defer = daemon === 'tsulad' ? ` ${EXTRA_CA_CERTS_DEFERRED}=\${NODE_EXTRA_CA_CERTS}` : '';
  const malloc = Object.entries(MALLOC_TUNABLES).map(([k, v]) => ` ${k}=${v}`).join('');
  return `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS${defer}${malloc} node ${DAEMON_V8_FLAGS.join(' ')}`;
}

/**
 * The environment bin/<daemon> gives node (tests and tsulad's sandboxer launch start the
 * bundles with it): NODE_EXTRA_CA_CERTS moved aside for tsulad, dropped for the sandboxer;
 * the malloc tunables set.
 */
export function daemonEnv(daemon: 'tsulad' | 'tsula-sandboxer', env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: ca, [EXTRA_CA_CERTS_DEFERRED]: _deferred, ...rest } = env;
  return daemon === 'tsulad' ? { ...rest, ...MALLOC_TUNABLES, [EXTRA_CA_CERTS_DEFERRED]: ca ?? '' } : { ...rest, ...MALLOC_TUNABLES };
}
