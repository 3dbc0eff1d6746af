// grpc.ts on a real grpc-js server and client over a unix socket: a server-streaming method
// (CRI's GetContainerEvents) is declared as streaming, streams what its handler sends and
// ends with the handler's error as a status (UNIMPLEMENTED is code 12, not a protocol error);
// unary methods beside it are unchanged.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { grpcClient, grpcHandlers, serviceDefinition } from '../../src/common/grpc.js';
import { unimplemented } from '../../src/common/errors.js';
import { RuntimeService, ContainerEventType } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { unimplementedRuntime } from '../../src/cri/runtime.js';
import type { RuntimeServiceImpl } from '../../src/cri/server.js';


const dir = mkdtempSync(path.join(os.tmpdir(), 'tsula-grpc-'));
const servers: grpc.Server[] = [];
after(async () => {
  for (const s of servers) await new Promise<void>((r) => s.tryShutdown(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function serve(name: string, impl: RuntimeServiceImpl): Promise<string> {
  const sock = path.join(dir, `${name}.sock`);
  const server = new grpc.Server();
  server.addService(serviceDefinition(RuntimeService), grpcHandlers(RuntimeService, impl));
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  servers.push(server);
  return sock;
}

test('the descriptor\'s kind decides: GetContainerEvents streams, Version is unary', () => {
  const def = serviceDefinition(RuntimeService);
  assert.equal(def.getContainerEvents!.responseStream, true);
  assert.equal(def.getContainerEvents!.requestStream, false);
  assert.equal(def.version!.responseStream, false);
});

test('a streaming handler that throws Unimplemented: the client gets code 12 with its message', async () => {
  const sock = await serve('unimpl', unimplementedRuntime());
  // grpc-js' own client sees the status, not a protocol error
  const raw = new grpc.Client(`unix://${sock}`, grpc.credentials.createInsecure());
  const def = serviceDefinition(RuntimeService).getContainerEvents!;
  const status = await new Promise<grpc.StatusObject>((resolve) => {
    const call = raw.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {});
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('status', resolve);
  });
  raw.close();
  assert.equal(status.code, grpc.status.UNIMPLEMENTED);
  assert.match(status.details, /GetContainerEvents is not implemented/);
  const c = grpcClient(RuntimeService, sock);
  try {
    await assert.rejects(async () => { for await (const _ of c.getContainerEvents({})) { /* none */ } },
      (e: Error & { kind?: string }) => e.kind === 'Unimplemented');
    await assert.rejects(c.checkpointContainer({ containerId: 'x' }), (e: Error & { kind?: string }) => e.kind === 'Unimplemented');
  } finally {
    c.close();
  }
});

test('a streaming handler that sends: every message arrives, then the call ends OK (or with the thrown status)', async () => {
  let fail = false;
  const sock = await serve('stream', {
    ...unimplementedRuntime(),
    getContainerEvents: async (_req, _signal, send) => {
      for (let i = 0; i < 3; i++) await send({ containerId: `c${i}`, containerEventType: ContainerEventType.CONTAINER_STARTED_EVENT, createdAt: BigInt(i) });
      if (fail) throw unimplemented('no more');
    },
    version: async () => ({ version: '0.1.0', runtimeName: 'x', runtimeVersion: '1', runtimeApiVersion: 'v1' }),
  });
  const c = grpcClient(RuntimeService, sock);
  try {
    const got: string[] = [];
    for await (const m of c.getContainerEvents({})) got.push(`${m.containerId}:${m.createdAt}`);
    assert.deepEqual(got, ['c0:0', 'c1:1', 'c2:2']);
    fail = true;
    const seen: string[] = [];
    await assert.rejects(async () => { for await (const m of c.getContainerEvents({})) seen.push(m.containerId); },
      (e: Error & { kind?: string }) => e.kind === 'Unimplemented' && /no more/.test(e.message));
    assert.deepEqual(seen, ['c0', 'c1', 'c2']);
    assert.equal((await c.version({})).runtimeName, 'x');
  } finally {
    c.close();
  }
});
