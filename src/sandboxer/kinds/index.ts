// The registry of sandbox kinds: name → factory. A new kind registers itself here.
import type { SandboxKind } from './types.js';
import type { Logger } from '../../common/log.js';
import { RuncSandboxKind } from './runc/index.js';
import { lazyKind } from './lazy.js';
import { validateVmRequest } from './vmm/request.js';
import { asksForVmCache } from './vmm/config.js';

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
  // loaded with the first VM pod (kinds/lazy.ts); its containers live in the guest: no spec to join
  vmm: (d) => lazyKind('vmm', async () => new (await import('./vmm/index.js')).VmmSandboxKind({ stateDir: d.stateDir, configPath: d.vmmConfigPath, log: d.log }), {
    validate: validateVmRequest, joinSpec: () => {}, ownRuntime: true,
    wantsPrepare: () => asksForVmCache(d.vmmConfigPath || undefined),
  }),
};

export function kindNames(): string[] {
  return Object.keys(KINDS);
}
