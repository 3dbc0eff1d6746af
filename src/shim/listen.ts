// containerd-shim-tsula-v2 `start` of a namespace's first task: ask the sandboxer to serve
// that namespace's task socket (namespace-sockets.ts). Loaded only then: the ttrpc client
// and protobuf stay out of every other start.
import { TtrpcClient } from '../ttrpc/client.js';
import { ADMIN_SERVICE, decodeJson, encodeJson, type ListenRequest, type ListenResponse } from '../sandboxer/admin.js';

export async function listenFor(taskSock: string, namespace: string): Promise<string> {
  const client = await TtrpcClient.connect(taskSock, { timeoutMs: 5000 });
  try {
    const r = decodeJson<ListenResponse>(await client.callRaw(ADMIN_SERVICE, 'Listen',
      encodeJson({ namespace } satisfies ListenRequest), { timeoutMs: 10_000 }));
    return r.address;
  } finally {
    client.close();
  }
}
