// The registry of sandbox kinds: name → factory. A new kind registers itself here.
import type { SandboxKind } from './types.js';
import type { Logger } from '../../common/log.js';
import { RuncSandboxKind } from './runc/index.js';
import { VmmSandboxKind } from './vmm/index.js';

export type { SandboxKind, SandboxRecord, SandboxRequest, StartedSandbox } from './types.js';

export interface KindDeps {
  /** The sandboxer's state dir (kinds keep per-sandbox files below it). */
  stateDir: string;
  /** vmm.toml (default /etc/tsula/vmm.toml). */
  vmmConfigPath?: string;
  log?: Logger;
}

export const KINDS: Readonly<Record<string, (d: KindDeps) => SandboxKind>> = {
  runc: (d) => new RuncSandboxKind(d.stateDir),
  vmm: (d) => new VmmSandboxKind({ stateDir: d.stateDir, configPath: d.vmmConfigPath, log: d.log }),
};

export function kindNames(): string[] {
  return Object.keys(KINDS);
}
