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
import { Controller } from '../../gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { GrpcClient } from '../../common/grpc.js';
import { isKind } from '../../common/errors.js';
import { ensureSandboxer } from '../../sandboxer/launch.js';
import { taskSocketOf } from '../../sandboxer/admin.js';
import { TtrpcClient, type ServiceClient } from '../../ttrpc/client.js';
import { SPEC_TYPE_URL } from '../../agent/protocol.js';
import type { Spec } from '../../oci/types.js';
import type { PodRecord } from './record.js';
import type { PodSandboxes } from './service.js';

type ControllerMethods = typeof Controller extends GenService<infer S extends GenServiceMethods> ? S : never;
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

/** The Controller methods tsulad calls, over gRPC or ttrpc alike. */
type ControllerClient = Pick<ServiceClient<ControllerMethods>, 'create' | 'start' | 'stop' | 'shutdown' | 'status'> & { close(): void };

/**
 * tsulad's own sandboxer (the one it starts: its state dir is known) serves the Controller
 * over ttrpc on its task socket too: there the sandboxer loads no grpc-js for a VM pod (~4 MB
 * of its RSS), nor tsulad its client when its CRI is not used. One connection, made on the
 * first call and again after it breaks.
 */
function ttrpcController(state: string): ControllerClient {
  let conn: Promise<TtrpcClient> | undefined;
  const stub = async () => {
    const c = conn ??= TtrpcClient.connect(`unix://${taskSocketOf(state)}`).then((client) => {
      client.onClose(() => { if (conn === c) conn = undefined; });
      return client;
    });
    try {
      return (await c).service(Controller);
    } catch (e) {
      if (conn === c) conn = undefined;
      throw e;
    }
  };
  return {
    create: async (req, o) => (await stub()).create(req, o),
    start: async (req, o) => (await stub()).start(req, o),
    stop: async (req, o) => (await stub()).stop(req, o),
    shutdown: async (req, o) => (await stub()).shutdown(req, o),
    status: async (req, o) => (await stub()).status(req, o),
    close: () => { void conn?.then((c) => c.close(), () => {}); conn = undefined; },
  };
}

async function grpcController(address: string): Promise<ControllerClient> {
  const { grpcClient } = await import('../../common/grpc.js');
  return grpcClient(Controller, address) as GrpcClient<ControllerMethods>;
}

export class ControllerSandboxes implements PodSandboxes {
  private clients = new Map<string, Promise<ControllerClient>>();
  /** Own sandboxers that answered the ttrpc Controller UNIMPLEMENTED (one started by an older tsula). */
  private grpcOnly = new Set<string>();

  private client(sb: SandboxRef): Promise<ControllerClient> {
    let c = this.clients.get(sb.address);
    if (!c) {
      c = sb.autoStartState && !this.grpcOnly.has(sb.address) ? Promise.resolve(ttrpcController(sb.autoStartState)) : grpcController(sb.address);
      this.clients.set(sb.address, c);
    }
    return c;
  }

  private drop(address: string): void {
    void this.clients.get(address)?.then((c) => c.close(), () => {});
    this.clients.delete(address);
  }

  /**
   * A call on the sandbox's client. UNAVAILABLE once: again on a new connection (a gRPC
   * channel that failed to connect, the sandboxer restarting, waits out grpc-js' reconnect
   * back-off, up to minutes, though the new sandboxer already listens). UNIMPLEMENTED from
   * an own sandboxer's ttrpc socket: it predates the Controller there; gRPC from then on.
   */
  private async call<T>(sb: SandboxRef, fn: (c: ControllerClient) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.client(sb));
    } catch (e) {
      const old = sb.autoStartState && !this.grpcOnly.has(sb.address) && isKind(e, 'Unimplemented');
      if (!isKind(e, 'Unavailable') && !old) throw e;
      if (old) this.grpcOnly.add(sb.address);
      this.drop(sb.address);
      return fn(await this.client(sb));
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
    await (await this.client(sb)).start({ sandboxId: sb.sandboxId, sandboxer: sb.kind }, CALL);
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
    for (const address of [...this.clients.keys()]) this.drop(address);
  }
}
