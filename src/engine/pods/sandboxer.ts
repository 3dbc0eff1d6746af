// Pods that are sandboxes of a sandboxer (a VM per pod; iSulad's cri-sandboxers, Kuasar's
// design): created through the sandbox Controller API in the pod's network namespace, with
// the pod's id as the sandbox id. The pod's containers then go to that sandbox through the
// sandboxer runtime (their spec names the pod: io.kubernetes.cri.sandbox-id).
import { Controller } from '../../gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { grpcClient, type GrpcClient } from '../../common/grpc.js';
import { isKind } from '../../common/errors.js';
import { ensureSandboxer } from '../../sandboxer/launch.js';
import type { PodRecord } from './record.js';
import type { PodSandboxes } from './service.js';

type ControllerMethods = typeof Controller extends GenService<infer S extends GenServiceMethods> ? S : never;
const CALL = { timeoutMs: 300_000 };

export class ControllerSandboxes implements PodSandboxes {
  private clients = new Map<string, GrpcClient<ControllerMethods>>();

  private client(address: string): GrpcClient<ControllerMethods> {
    let c = this.clients.get(address);
    if (!c) {
      c = grpcClient(Controller, address);
      this.clients.set(address, c);
    }
    return c;
  }

  async start(pod: PodRecord): Promise<void> {
    const sb = pod.sandbox!;
    if (sb.autoStartState) await ensureSandboxer(sb.autoStartState, sb.address);
    const ctl = this.client(sb.address);
    await ctl.create({
      sandboxId: sb.sandboxId, sandboxer: sb.kind, netnsPath: pod.netnsPath,
      annotations: { ...pod.spec.annotations, 'io.kubernetes.cri.sandbox-id': pod.id, 'io.kubernetes.cri.sandbox-name': pod.spec.name, 'io.kubernetes.cri.sandbox-namespace': pod.spec.namespace },
    }, CALL);
    await ctl.start({ sandboxId: sb.sandboxId, sandboxer: sb.kind }, CALL);
  }

  async stop(pod: PodRecord): Promise<void> {
    const sb = pod.sandbox!;
    if (sb.autoStartState) await ensureSandboxer(sb.autoStartState, sb.address);
    await this.client(sb.address).stop({ sandboxId: sb.sandboxId, sandboxer: sb.kind, timeoutSecs: 10 }, CALL).catch((e: unknown) => {
      if (!isKind(e, 'NotFound')) throw e;
    });
  }

  async remove(pod: PodRecord): Promise<void> {
    const sb = pod.sandbox!;
    if (sb.autoStartState) await ensureSandboxer(sb.autoStartState, sb.address);
    await this.client(sb.address).shutdown({ sandboxId: sb.sandboxId, sandboxer: sb.kind }, CALL).catch((e: unknown) => {
      if (!isKind(e, 'NotFound')) throw e;
    });
  }

  /** Controller.Status: its pid is what stats read (a VM's qemu); no sandboxer is started for it. */
  async status(pod: PodRecord): Promise<{ pid: number; ready: boolean }> {
    const sb = pod.sandbox!;
    const r = await this.client(sb.address).status({ sandboxId: sb.sandboxId, sandboxer: sb.kind, verbose: false }, { timeoutMs: 10_000 });
    return { pid: r.pid, ready: r.state === 'SANDBOX_READY' };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}
