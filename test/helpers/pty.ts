// The CLI on a real terminal: a python3 relay gives the command a pty (so the CLI sees a
// TTY, goes raw and watches for detach keys), relays our writes to it and its output to us,
// and on request sets the pty's size (the kernel then sends the CLI SIGWINCH, as a terminal
// window that is resized does).
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { waitFor } from './daemon.js';

// fd 3 carries "rows cols" lines: TIOCSWINSZ on the master. Our stdin's EOF stops only the
// copying of input, as pty.spawn does; the relay ends with the command.
const RELAY = `
import os, pty, sys, select, fcntl, termios, struct
def size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    # the size before the exec: the command reads it at its start
    if sys.argv[1] != '-':
        size(0, *map(int, sys.argv[1].split('x')))
    os.execvp(sys.argv[2], sys.argv[2:])
fds = [0, fd, 3]
ctl = b''
while True:
    r, _, _ = select.select(fds, [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            fds.remove(0)
        while data:
            data = data[os.write(fd, data):]
    if 3 in r:
        data = os.read(3, 1024)
        if not data:
            fds.remove(3)
        ctl += data
        while b'\\n' in ctl:
            line, ctl = ctl.split(b'\\n', 1)
            size(fd, *map(int, line.split()))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
`;

export interface PtyOptions {
  /** The terminal's size at the start (rows, columns); default none (0x0, as pty.spawn). */
  size?: [number, number];
  env?: NodeJS.ProcessEnv;
}

export class PtyProcess {
  output = '';
  readonly exited: Promise<number>;
  private proc: ChildProcess;

  constructor(argv: string[], o: PtyOptions = {}) {
    const size = o.size ? `${o.size[0]}x${o.size[1]}` : '-';
    this.proc = spawn('python3', ['-c', RELAY, size, ...argv], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: o.env ?? process.env });
    this.proc.stdout!.on('data', (d: Buffer) => { this.output += d.toString('latin1'); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.output += d.toString('latin1'); });
    this.proc.stdin!.on('error', () => {});
    this.ctl.on('error', () => {});
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code ?? -1)));
  }

  private get ctl(): Writable {
    return this.proc.stdio[3] as Writable;
  }

  /** Keystrokes, as typed ("\r" is Enter, "\x10\x11" is Ctrl-P Ctrl-Q). */
  type(keys: string): void {
    this.proc.stdin!.write(Buffer.from(keys, 'latin1'));
  }

  /** Resize the terminal: the command gets SIGWINCH. */
  resize(rows: number, cols: number): void {
    this.ctl.write(`${rows} ${cols}\n`);
  }

  /** Wait until the output (since `from`) matches. */
  async expect(re: RegExp, from = 0, ms = 20_000): Promise<void> {
    await waitFor(async () => re.test(this.output.slice(from)), ms, `${re} in ${JSON.stringify(this.output.slice(from))}`);
  }

  /** The exit status, or a failure if it takes longer than ms. */
  async status(ms = 20_000): Promise<number> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`still running after ${ms} ms; output: ${JSON.stringify(this.output)}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(t);
      this.proc.stdin!.end();
      this.ctl.end();
    }
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}
