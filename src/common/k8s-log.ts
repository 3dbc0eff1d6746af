// One record of the CRI "k8s-file" log that conmon writes: "<RFC3339Nano> <stdout|stderr>
// <F|P> <text>", P for a piece of a line that continues in the next record. Read by the
// engine's logs (engine/containers/logs.ts) and by the runc runtime's exec output replay.

export interface LogRecord {
  time: string;
  stream: 1 | 2;
  data: Buffer;
}

/** A record of the log; `encoding` is the one the line was decoded with (latin1: the bytes as they are). */
export function parseLine(line: string, encoding: BufferEncoding = 'utf8'): LogRecord | null {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return null;
  const streamName = line.slice(a + 1, b);
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const text = c < 0 ? '' : line.slice(c + 1);
  const partial = tag === 'P';
  return {
    time: line.slice(0, a),
    stream: streamName === 'stderr' ? 2 : 1,
    data: Buffer.from(partial ? text : text + '\n', encoding),
  };
}
