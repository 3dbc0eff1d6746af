// The CLI on a real terminal: python3's pty module gives the command a pty (so tsula sees a
// TTY, goes raw and watches for detach keys) and relays our writes to it and its output to us.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './daemon.js';

const RELAY = 'import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))';

export class PtyProcess {
  output = '';
  readonly exited: Promise<number>;
  private proc: ChildProcess;

  /** `size`: the terminal's columns and rows (set with stty before the command runs). */
  constructor(argv: string[], size?: { cols: number; rows?: number }) {
    const cmd = size ? ['sh', '-c', `stty cols ${size.cols} rows ${size.rows ?? 24} && exec "$@"`, 'sh', ...argv] : argv;
    this.proc = spawn('python3', ['-c', RELAY, ...cmd], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', (d: Buffer) => { this.output += d.toString('latin1'); });
    this.proc.stderr!.on('data', (d: Buffer) => { this.output += d.toString('latin1'); });
    this.proc.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code ?? -1)));
  }

  /** Keystrokes, as typed ("\r" is Enter, "\x10\x11" is Ctrl-P Ctrl-Q). */
  type(keys: string): void {
    this.proc.stdin!.write(Buffer.from(keys, 'latin1'));
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
    }
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}
