// One call to the sandboxer's Admin service over its task socket, for the shim launcher's
// `start` (Listen) and `delete` (Cleanup). Loaded only when called: the ttrpc client and
// protobuf stay out of the launcher's usual start.
import { TtrpcClient } from '../ttrpc/client.js';
import { ADMIN_SERVICE, decodeJson, encodeJson } from './admin.js';

export async function adminCall<T>(taskSock: string, method: string, req: unknown, timeoutMs: number): Promise<T> {
  const client = await TtrpcClient.connect(taskSock, { timeoutMs: 5000 });
  try {
    return decodeJson<T>(await client.callRaw(ADMIN_SERVICE, method, encodeJson(req), { timeoutMs }));
  } finally {
    client.close();
  }
}
