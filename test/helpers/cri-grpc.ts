// CRI RPCs crictl has no command for (ReopenContainerLog, ExecSync with a timeout), straight
// over gRPC with the project's generated CRI messages.
import { RuntimeService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { grpcClient } from '../../src/common/grpc.js';

export async function criCall(socket: string, method: string, req: Record<string, unknown>): Promise<unknown> {
  const c = grpcClient(RuntimeService, socket) as unknown as Record<string, (r: unknown, o?: { timeoutMs?: number }) => Promise<unknown>> & { close(): void };
  try {
    return await c[method]!(req, { timeoutMs: 60_000 });
  } finally {
    c.close();
  }
}

/** A typed RuntimeService client that keeps its connection (many calls, as kubelet makes them); close() it. */
export function criClient(socket: string) {
  return grpcClient(RuntimeService, socket);
}
