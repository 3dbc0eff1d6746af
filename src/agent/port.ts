// A virtio-serial port (/dev/virtio-ports/<name>) as one Duplex per host connection.
//
// libuv can't poll a character device that isn't a tty (net.Socket refuses the fd as
// "FILE"), so reads and writes are blocking calls on the thread pool: one read is always
// pending, holding one of the pool's threads while the host is quiet.
//
// A read of 0 bytes means no host is connected. The fd is never closed for that: while the
// guest has the port closed QEMU stops polling the chardev socket, and it notices the
// reopen only at its main loop's next event — a host that reconnected meanwhile would wait
// forever for an answer. So the port stays open and each host connection is a session:
// 0 bytes before any data = no host yet (retry shortly); 0 bytes after data = the host left.
import * as fs from 'node:fs';
import { Duplex } from 'node:stream';

const IDLE_POLL_MS = 50;

export class Port {
  private constructor(readonly fd: number) {}

  /** A plain fd, not a FileHandle: a FileHandle would be closed when garbage collected. */
  static open(path: string): Port {
    return new Port(fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY));
  }

  /** The next host connection's byte stream; ends when that host disconnects. */
  session(): Duplex {
    return new PortSession(this.fd);
  }
}

class PortSession extends Duplex {
  private readonly buf = Buffer.alloc(64 * 1024);
  private seenData = false;

  constructor(private readonly fd: number) {
    super();
  }

  override _read(): void {
    fs.read(this.fd, this.buf, 0, this.buf.length, null, (err, n) => {
      if (this.destroyed) return;
      if (err) return this.destroy(err);
      if (n === 0) {
        if (this.seenData) return void this.push(null);
        return void setTimeout(() => this._read(), IDLE_POLL_MS);
      }
      this.seenData = true;
      this.push(Buffer.from(this.buf.subarray(0, n)));
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const writeFrom = (off: number) => {
      fs.write(this.fd, chunk, off, chunk.length - off, null, (err, n) => {
        if (err) return cb(err);
        if (off + n < chunk.length) writeFrom(off + n); else cb();
      });
    };
    writeFrom(0);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    cb(err); // the fd belongs to the Port: see above
  }
}
