import { runCli } from '../cli/entry.js';

runCli(process.argv.slice(2));
