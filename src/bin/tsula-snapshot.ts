// The CLI as a V8 startup snapshot: scripts/bundle.mjs runs this (as CommonJS) under
// `node --build-snapshot`, so build/tsula.blob holds the CLI's core modules loaded and
// compiled; bin/tsula starts node from it when it fits this node and CPU. Run from the
// snapshot, process.argv is [node, ...args] (bin/tsula passes them after `--`).
import { startupSnapshot } from 'node:v8';
import { runCli } from '../cli/entry.js';

startupSnapshot.setDeserializeMainFunction(() => runCli(process.argv.slice(1)));
