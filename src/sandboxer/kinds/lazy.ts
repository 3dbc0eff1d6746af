// A sandbox kind whose code loads with its first sandbox: the VM kind brings the hypervisor
// layer, the agent's ttrpc client and protobuf (~4 MB of an idle sandboxer's RSS) that a
// sandboxer running only runc pods never uses. What must answer synchronously (refusing a
// request, joining a spec) comes from a light module; everything else awaits the load,
// which happens once (a sandboxer restarted with a live VM pod loads it at its recovery).
import type { Spec } from '../../oci/types.js';
import type { Runtime } from '../../runtime/types.js';
import type { SandboxKind, SandboxRecord, SandboxRequest, StartedSandbox } from './types.js';

export interface LightParts {
  validate?(req: SandboxRequest): void;
  joinSpec(sb: SandboxRecord, spec: Spec): void;
  /** The kind runs its containers itself (SandboxKind.runtime): known before it loads. */
  ownRuntime: boolean;
  /** Has the kind work to do at the sandboxer's start (SandboxKind.prepare)? Else it is not loaded for it. */
  wantsPrepare?(): Promise<boolean>;
}

export function lazyKind(name: string, load: () => Promise<SandboxKind>, light: LightParts): SandboxKind {
  let kind: Promise<SandboxKind> | undefined;
  // a failed load (a broken install) is tried again by the next call, not remembered
  const get = () => (kind ??= load().catch((e: unknown) => { kind = undefined; throw e; }));
  const k: SandboxKind = {
    name,
    validate: light.validate,
    joinSpec: light.joinSpec,
    start: async (sb: SandboxRecord, dir: string): Promise<StartedSandbox> => (await get()).start(sb, dir),
    alive: async (sb: SandboxRecord) => (await get()).alive(sb),
    stop: async (sb: SandboxRecord, timeoutSecs: number) => (await get()).stop(sb, timeoutSecs),
    prepare: async () => { if (await light.wantsPrepare?.()) await (await get()).prepare?.(); },
    // never loaded: nothing of it runs
    close: async () => { await (await kind?.catch(() => null))?.close?.(); },
  };
  if (light.ownRuntime) {
    k.runtime = async (sb: SandboxRecord): Promise<Runtime> => {
      const loaded = await get();
      if (!loaded.runtime) throw new Error(`sandbox kind ${name} has no runtime of its own`);
      return loaded.runtime(sb);
    };
  }
  return k;
}
