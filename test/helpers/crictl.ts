// The real CRI client: cri-tools' crictl v1.29 (../shared/tools/crictl beside the project,
// or on PATH; scripts/test.sh puts it there). Its absence fails the test that needs it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ROOT, type RunResult } from './daemon.js';

export function crictlPath(): string {
  const beside = path.resolve(ROOT, '../shared/tools/crictl');
  if (existsSync(beside)) return beside;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, 'crictl'))) return path.join(dir, 'crictl');
  }
  throw new Error('crictl (cri-tools v1.29) is not at ../shared/tools/crictl nor on PATH: these tests need the real CRI client');
}

/** crictl against a CRI socket, with a config file of its own (never /etc/crictl.yaml). */
export function crictl(socket: string, args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = execFile(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${socket}`, '--image-endpoint', `unix://${socket}`, '--timeout', '60s', ...args],
      { timeout: o.timeoutMs ?? 90_000, maxBuffer: 16 * 1024 * 1024 },
      (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
    if (o.input !== undefined) p.stdin?.end(o.input); else p.stdin?.end();
  });
}
