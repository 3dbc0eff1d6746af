// The stock docker CLI (Debian 12's docker.io client, Docker 20.10, API 1.41), unpacked by
// scripts/docker-cli.sh into build/tools (scripts/test.sh does it), pointed at a private
// tsulad. Its config dir is private too: nothing from ~/.docker, no credential helpers.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { ROOT, type RunResult, type TestDaemon } from './daemon.js';

export function dockerCliPath(): string {
  const p = process.env.TSULA_DOCKER_CLI ?? path.join(ROOT, 'build/tools/docker');
  if (!existsSync(p)) throw new Error(`the docker CLI is not at ${p}: run scripts/docker-cli.sh (the tests drive the real client)`);
  return p;
}

/** What the docker CLI needs to talk to d and nothing else. */
export function dockerEnv(d: TestDaemon): NodeJS.ProcessEnv {
  const config = path.join(d.dir, 'docker-config');
  mkdirSync(config, { recursive: true });
  return { ...process.env, DOCKER_HOST: `unix://${d.sock}`, DOCKER_CONFIG: config, DOCKER_CLI_HINTS: 'false', DOCKER_BUILDKIT: '0' };
}

/** `docker args...` against d; stdin gets `input` then EOF (or nothing). */
export function docker(d: TestDaemon, args: string[], o: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = execFile(dockerCliPath(), args, { env: dockerEnv(d), timeout: o.timeoutMs ?? 60_000, maxBuffer: 64 << 20 },
      (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
    if (o.input !== undefined) p.stdin?.end(o.input); else p.stdin?.end();
  });
}

/** `docker args...` against d that must exit 0: its stdout (else the assertion names the command and its stderr). */
export async function dockerOk(d: TestDaemon, args: string[]): Promise<string> {
  const r = await docker(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/**
 * The end of a file of docker network tests: its containers and networks removed through the
 * CLI, the daemon and the test's CNI net destroyed, and the bridge (br-<id12>) of any user
 * network a failed test left.
 */
export async function destroyNetworkDaemon(d: TestDaemon | undefined, ids: string[], tn?: { destroy(): Promise<void> }): Promise<void> {
  if (d?.proc) {
    await docker(d, ['rm', '-f', ...ids]).catch(() => undefined);
    await docker(d, ['network', 'prune', '-f']).catch(() => undefined);
  }
  const nets = await readdir(path.join(d?.graph ?? '/nonexistent', 'networks', 'records')).catch(() => [] as string[]);
  await d?.destroy();
  for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
  await tn?.destroy();
}
