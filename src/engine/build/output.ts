// Where a build's messages go: dockerd's progress writer formats them as JSON stream lines
// ({"stream": ...}, stderr in red as its StderrFormatter does, {"aux": ...}); the API edge
// decides where the lines end up (the response, or a buffer for -q).
export interface BuildOutput {
  stdout(text: string): void;
  /** A RUN's stderr and dockerd's warnings (its StderrFormatter colours them red). */
  stderr(text: string): void;
  /** {"aux":{"ID":...}} once per stage. */
  aux(imageId: string): void;
  /** A raw JSON message (a FROM's pull progress). */
  raw(msg: Record<string, unknown>): void;
}

/** An output that writes dockerd's JSON lines through `write`. */
export function jsonOutput(write: (line: string) => void): BuildOutput {
  const line = (o: unknown) => write(`${JSON.stringify(o)}\r\n`);
  return {
    stdout: (text) => line({ stream: text }),
    stderr: (text) => line({ stream: `\u001b[91m${text}\u001b[0m` }),
    aux: (id) => line({ aux: { ID: id } }),
    raw: (msg) => line(msg),
  };
}
