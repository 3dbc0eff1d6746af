// Newline-delimited messages read as they come: QMP's JSON (hypervisor/qmp.ts) and conmon's
// sync-pipe messages (runtime/runc/conmon.ts). The CLI pulls its JSON-lines streams with an
// async generator instead (cli/client.ts).
import type { Readable } from 'node:stream';

/** Call onLine with each complete line of `stream`, trimmed; blank lines are skipped. */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) onLine(line);
    }
  });
}
