// Pods that are sandboxes of a sandboxer (a VM per pod; iSulad's cri-sandboxers, Kuasar's
// design): created through the sandbox Controller API in the pod's network namespace, with
// the pod's id as the sandbox id. The pod's containers then go to that sandbox through the
// sandboxer runtime (their spec names the pod: io.kubernetes.cri.sandbox-id).
// CreateSandbox's `sandbox.spec` (containerd's sandbox API) carries the pod's OCI spec as far
// as a sandbox needs it: its hostname (a VM's guest takes it), its network namespace (none
// at all for hostNetwork, which a VM sandboxer refuses) and its sysctls (a VM's guest sets the
// net.* ones: its network is the pod's).
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { isKind } from '../../common/errors.js';
import { ensureSandboxer } from '../../sandboxer/launch.js';
import { controllerClient, type ControllerClient } from '../../sandboxer/controller-client.js';
import { SPEC_TYPE_URL } from '../../agent/protocol.js';
import type { Spec } from '../../oci/types.js';
import type { PodRecord } from './record.js';
import type { PodSandboxes } from './service.js';

type SandboxRef = { address: string; autoStartState?: string };
const CALL = { timeoutMs: 300_000 };

/** The part of the pod's OCI spec a sandbox reads (sandboxer/podspec.ts). */
export function podSpecFragment(pod: PodRecord): Pick<Spec, 'ociVersion' | 'hostname' | 'linux'> {
  const hostNet = pod.spec.namespaces.network === 'node';
  const r = pod.spec.resources;
  return {
    ociVersion: '1.0.2', hostname: pod.spec.hostname,
    linux: {
      namespaces: hostNet ? [] : [{ type: 'network', ...(pod.netnsPath ? { path: pod.netnsPath } : {}) }],
      ...(Object.keys(pod.spec.sysctls ?? {}).length ? { sysctl: { ...pod.spec.sysctls } } : {}),
      // the sandbox's cgroup below the pod's, as containerd's CRI gives its pause container
      ...(pod.spec.cgroupParent.startsWith('/') ? { cgroupsPath: `${pod.spec.cgroupParent.replace(/\/+$/, '')}/${pod.id}` } : {}),
      // the pod's limits (podspec.ts reads them into the VM's size)
      ...(r?.memoryLimit || r?.cpuQuota ? { resources: {
        ...(r.memoryLimit ? { memory: { limit: r.memoryLimit } } : {}),
        ...(r.cpuQuota && r.cpuPeriod ? { cpu: { quota: r.cpuQuota, period: r.cpuPeriod } } : {}),
      } } : {}),
    },
  };
}

export class ControllerSandboxes implements PodSandboxes {
  private clients = new Map<string, ControllerClient>();

  private client(sb: SandboxRef): ControllerClient {
    let c = this.clients.get(sb.address);
    if (!c) {
      c = controllerClient(sb.address, sb.autoStartState);
      this.clients.set(sb.address, c);
    }
    return c;
  }

  /**
   * A call on the sandbox's client; UNAVAILABLE once: again on a new connection. A gRPC
   * channel that failed to connect (the sandboxer restarting) waits out grpc-js' reconnect
   * back-off, up to minutes, and fails every call meanwhile, though the new sandboxer
   * already listens.
   */
  private async call<T>(sb: SandboxRef, fn: (c: ControllerClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client(sb));
    } catch (e) {
      if (!isKind(e, 'Unavailable')) throw e;
      this.clients.get(sb.address)?.close();
      this.clients.delete(sb.address);
      return fn(this.client(sb));
    }
  }

  async start(pod: PodRecord): Promise<void> {
    const sb = pod.sandbox!;
    if (sb.autoStartState) await ensureSandboxer(sb.autoStartState, sb.address);
    const spec = create(AnySchema, { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(podSpecFragment(pod))) });
    await this.call(sb, (ctl) => ctl.create({
      sandboxId: sb.sandboxId, sandboxer: sb.kind, netnsPath: pod.netnsPath, sandbox: { sandboxId: sb.sandboxId, spec },
      annotations: { ...pod.spec.annotations, 'io.kubernetes.cri.sandbox-id': pod.id, 'io.kubernetes.cri.sandbox-name': pod.spec.name, 'io.kubernetes.cri.sandbox-namespace': pod.spec.namespace },
    }, CALL));
    // Start is not a call to make twice (the sandboxer drops a sandbox whose start failed: a
    // retry would meet NOT_FOUND and hide the reason), and Create just made the connection good
    await this.client(sb).start({ sandboxId: sb.sandboxId, sandboxer: sb.kind }, CALL);
  }

  async stop(pod: PodRecord): Promise<void> {
    const sb = pod.sandbox!;
    if (sb.autoStartState) await ensureSandboxer(sb.autoStartState, sb.address);
    await this.call(sb, (c) => c.stop({ sandboxId: sb.sandboxId, sandboxer: sb.kind, timeoutSecs: 10 }, CALL)).catch((e: unknown) => {
      if (!isKind(e, 'NotFound')) throw e;
    });
  }

  async remove(pod: PodRecord): Promise<void> {
    const sb = pod.sandbox!;
    if (sb.autoStartState) await ensureSandboxer(sb.autoStartState, sb.address);
    await this.call(sb, (c) => c.shutdown({ sandboxId: sb.sandboxId, sandboxer: sb.kind }, CALL)).catch((e: unknown) => {
      if (!isKind(e, 'NotFound')) throw e;
    });
  }

  /** Controller.Status: its pid is what stats read (a VM's qemu); no sandboxer is started for it. */
  async status(pod: PodRecord): Promise<{ pid: number; ready: boolean }> {
    const sb = pod.sandbox!;
    const r = await this.call(sb, (c) => c.status({ sandboxId: sb.sandboxId, sandboxer: sb.kind, verbose: false }, { timeoutMs: 10_000 }));
    return { pid: r.pid, ready: r.state === 'SANDBOX_READY' };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}
