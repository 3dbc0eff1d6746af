// One container's task as tsulad holds it: the record that survives tsulad restarts
// (<stateDir>/tasks/<id>.json), the ttrpc connection to its shim, its stdio and the
// shim's log FIFO.
import { promises as fs } from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { Task as TaskService } from '../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { TtrpcClient } from '../../ttrpc/client.js';
import { shimSocketPath } from '../../ttrpc/address.js';
import { writeJsonAtomic } from '../../common/fsutil.js';
import type { Logger } from '../../common/log.js';
import { openFifoKeepalive, type IOPaths, type ProcessIO } from './io.js';

export type TaskApi = ReturnType<typeof taskApi>;

export interface TaskRecord {
  id: string;
  bundle: string;
  address: string;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  logPath: string;
  /** The log starts over past this many bytes (docker's max-size). */
  logSizeMax?: number;
  io: IOPaths;
}

export interface ExecEntry {
  containerId: string;
  execId: string;
  io: ProcessIO | null;
}

export class ShimTask {
  io: ProcessIO | null = null;
  shimLog: net.Socket | null = null;
  waiting = false;
  exitReported = false;
  /** Set when we close the connection ourselves: a lost Wait then is not a dead shim. */
  detached = false;

  constructor(readonly rec: TaskRecord, readonly client: TtrpcClient, readonly api: TaskApi) {}

  static async connect(rec: TaskRecord, timeoutMs = 5000): Promise<ShimTask> {
    const client = await TtrpcClient.connect(shimSocketPath(rec.address), { timeoutMs });
    return new ShimTask(rec, client, taskApi(client));
  }

  /** Copy the shim's log FIFO (its stderr, logrus lines) into our log. */
  followShimLog(log: Logger | undefined): void {
    this.shimLog ??= followShimLog(this.rec.bundle, this.rec.id, log);
  }

  /** Drop our side (connection, FIFOs); the shim and the container keep running. */
  detach(): void {
    this.detached = true;
    this.io?.close();
    this.shimLog?.destroy();
    this.shimLog = null;
    this.client.close();
  }
}

/**
 * Read <bundle>/log, the FIFO that becomes the shim daemon's stderr. Held O_RDWR so it
 * never reads EOF; null when there is no FIFO (the shim ignores failed log writes).
 */
export function followShimLog(bundle: string, id: string, log: Logger | undefined): net.Socket | null {
  let sock: net.Socket;
  try {
    sock = openFifoKeepalive(path.join(bundle, 'log'));
  } catch {
    return null;
  }
  let rest = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      const f = { id: id.slice(0, 12), line };
      if (/level=(error|fatal|panic)/.test(line)) log?.warn('shim', f); else log?.debug('shim', f);
    }
  });
  sock.on('error', () => sock.destroy());
  return sock;
}

export function taskApi(client: TtrpcClient) {
  return client.service(TaskService);
}

export class TaskRecords {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  async save(rec: TaskRecord): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(this.file(rec.id), rec);
  }

  async load(id: string): Promise<TaskRecord | null> {
    try {
      return JSON.parse(await fs.readFile(this.file(id), 'utf8')) as TaskRecord;
    } catch {
      return null;
    }
  }

  async list(): Promise<TaskRecord[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const out: TaskRecord[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const r = await this.load(n.slice(0, -5));
      if (r) out.push(r);
    }
    return out;
  }

  async remove(id: string): Promise<void> {
    await fs.rm(this.file(id), { force: true });
  }
}
