// Exit monitoring without polling: conmon writes <exit-dir>/<container id> (the exit code,
// 128+N for a signal) when the container dies; inotify (fs.watch) tells us it appeared.
import { watch, promises as fs, type FSWatcher } from 'node:fs';
import * as path from 'node:path';
import { removeFile } from '../../common/fsutil.js';

// containerd's identifiers (the sandboxer runs runc under them, as runc-v2) and tsulad's 64-hex ids
export const EXIT_ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** Told of each exit once; `false` back means "not one of mine" (a stray or temporary name): forgotten again. */
export type ExitCallback = (id: string, code: number, at: Date) => boolean | void;

export class ExitWatcher {
  private watcher: FSWatcher | null = null;
  private seen = new Set<string>();

  constructor(private dir: string, private cb: ExitCallback) {}

  async start(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Watch first, then scan, so an exit between the two is not missed.
    this.watcher = watch(this.dir, (_ev, name) => { if (name) void this.check(String(name)); });
    for (const name of await fs.readdir(this.dir)) await this.check(name);
  }

  /** Forget a reported exit so the next one of the same id is reported too (restart). */
  reset(id: string): void {
    this.seen.delete(id);
  }

  async read(id: string): Promise<{ code: number; at: Date } | null> {
    const file = path.join(this.dir, id);
    try {
      const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
      const code = Number.parseInt(text.trim(), 10);
      if (!Number.isFinite(code)) return null;
      return { code, at: st.mtime };
    } catch {
      return null;
    }
  }

  async remove(id: string): Promise<void> {
    this.seen.delete(id);
    await removeFile(path.join(this.dir, id));
  }

  private async check(name: string): Promise<void> {
    if (!EXIT_ID.test(name) || this.seen.has(name)) return;
    const st = await this.read(name);
    if (!st || this.seen.has(name)) return;
    this.seen.add(name);
    if (this.cb(name, st.code, st.at) === false) this.seen.delete(name);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}
