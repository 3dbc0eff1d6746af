// The V8 flags tsulad and tsula-sandboxer run with (bin/tsulad and bin/tsula-sandboxer carry
// the same in their shebang; a unit test keeps them equal). Both daemons spend their time
// waiting on runc, conmon, QEMU and the disk: optimised JIT code buys them nothing measurable
// (bench/engine.mjs and bench/pull.mjs: same latency and pull time), while V8's lite mode
// (interpreter only, feedback allocated lazily) keeps ~10 MB less at idle and ~30 MB less
// after a burst of runs or a pull. WebAssembly needs the JIT; nothing of ours uses it, and
// saying so spares V8's "disabling flag --expose_wasm" warning in the log.
export const DAEMON_V8_FLAGS: readonly string[] = ['--lite-mode', '--no-expose-wasm'];
