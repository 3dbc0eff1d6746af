// How a `tsula` process runs the CLI, whether node loaded it from the bundle
// (src/bin/tsula.ts) or from the CLI's startup snapshot (src/bin/tsula-snapshot.ts).
import { main } from './main.js';

export function runCli(argv: string[]): void {
  let settled = false;
  main(argv).then((code) => { settled = true; process.exitCode = code; }, (e: unknown) => {
    settled = true;
    process.stderr.write(`tsula: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
  // Nothing left to run but no result: a command lost track of its work (a stream that ended
  // unseen). Say so and fail, rather than let node exit 0 and report a success.
  process.once('beforeExit', () => {
    if (settled) return;
    process.stderr.write('tsula: internal error: the command ended without a result\n');
    process.exitCode = 125;
  });
}
