import { main } from '../cli/main.js';

let settled = false;
main(process.argv.slice(2)).then((code) => { settled = true; process.exitCode = code; }, (e: unknown) => {
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
