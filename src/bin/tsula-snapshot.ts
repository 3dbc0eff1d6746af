// The CLI as a V8 startup snapshot: scripts/bundle.mjs runs this (as CommonJS) under
// `node --build-snapshot`, so build/tsula.blob holds the CLI's core modules loaded and
// compiled, the common commands' code too (warmUp); bin/tsula starts node from it when it
// fits this node and CPU. Run from the snapshot, process.argv is [node, ...args] (bin/tsula
// passes them after `--`).
import { startupSnapshot } from 'node:v8';
import { runCli } from '../cli/entry.js';
import { warmUp } from '../cli/warmup.js';

// node takes the snapshot once the event loop is empty, so after the warm-up's last request;
// a warm-up that fails costs speed only, never the build
warmUp().catch((err: unknown) => process.emitWarning(`CLI snapshot warm-up: ${err instanceof Error ? err.message : String(err)}`));
startupSnapshot.setDeserializeMainFunction(() => runCli(process.argv.slice(1)));
