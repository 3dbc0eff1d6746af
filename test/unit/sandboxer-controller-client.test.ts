// sandboxer/controller-client: tsulad's own sandboxer is called over ttrpc on its task socket;
// one that does not serve the Controller there (started by an older tsula) over gRPC on its
// Controller socket, from its first UNIMPLEMENTED on; a method's own UNIMPLEMENTED is an
// answer, not a reason to change transports; any other sandboxer over gRPC from the start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Controller } from '../../src/gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import { TtrpcServer } from '../../src/ttrpc/server.js';
import { grpcHandlers, serviceDefinition } from '../../src/common/grpc.js';
import { errorKind, unimplemented } from '../../src/common/errors.js';
import { controllerClient } from '../../src/sandboxer/controller-client.js';
import { taskSocketOf } from '../../src/sandboxer/admin.js';

/** A ttrpc task socket in `state`, with the Controller (Status answers 'ttrpc') or without. */
async function taskSocket(state: string, withController: boolean): Promise<net.Server> {
  await mkdir(state, { recursive: true });
  const srv = new TtrpcServer();
  if (withController) {
    srv.registerService(Controller, {
      status: (r) => ({ sandboxId: `ttrpc:${r.sandboxId}` }),
      metrics: () => { throw unimplemented('Metrics is not implemented by tsula-sandboxer'); },
    });
  }
  srv.register('tsula.Admin', { List: () => Buffer.from('{}') });
  const l = net.createServer((c) => srv.serve(c));
  await new Promise<void>((r) => l.listen(taskSocketOf(state), r));
  return l;
}

/** A gRPC Controller socket whose Status answers 'grpc'. */
async function grpcSocket(sock: string): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(serviceDefinition(Controller), grpcHandlers(Controller, {
    status: async (r: { sandboxId: string }) => ({ sandboxId: `grpc:${r.sandboxId}` }),
  } as unknown as Parameters<typeof grpcHandlers>[1]));
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return server;
}

test('own sandboxer: ttrpc on its task socket; one without the Controller there: gRPC from then on; others: gRPC', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tsctl-'));
  const servers: Array<net.Server | grpc.Server> = [];
  const clients: Array<{ close(): void }> = [];
  try {
    const address = path.join(dir, 'ctl.sock');
    servers.push(await grpcSocket(address));

    const fresh = path.join(dir, 'fresh');
    servers.push(await taskSocket(fresh, true));
    const own = controllerClient(address, fresh);
    clients.push(own);
    assert.equal((await own.status({ sandboxId: 'a' })).sandboxId, 'ttrpc:a');
    // a method the sandboxer does not implement: its answer, over ttrpc still
    await assert.rejects(own.metrics({ sandboxId: 'a' }), (e) => errorKind(e) === 'Unimplemented' && /Metrics is not implemented/.test(String(e)));
    assert.equal((await own.status({ sandboxId: 'b' })).sandboxId, 'ttrpc:b');

    const older = path.join(dir, 'older');
    servers.push(await taskSocket(older, false));
    const old = controllerClient(address, older);
    clients.push(old);
    assert.equal((await old.status({ sandboxId: 'a' })).sandboxId, 'grpc:a');
    assert.equal((await old.status({ sandboxId: 'b' })).sandboxId, 'grpc:b');

    const other = controllerClient(address);
    clients.push(other);
    assert.equal((await other.status({ sandboxId: 'a' })).sandboxId, 'grpc:a');

    // a broken connection is made again at the next call
    own.close();
    assert.equal((await own.status({ sandboxId: 'c' })).sandboxId, 'ttrpc:c');
  } finally {
    for (const c of clients) c.close();
    for (const s of servers) {
      if (s instanceof net.Server) await new Promise((r) => s.close(r));
      else s.forceShutdown();
    }
    await rm(dir, { recursive: true, force: true });
  }
});
