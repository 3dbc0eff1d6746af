import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { TtrpcServer } from '../../src/ttrpc/server.js';
import { Events } from '../../src/gen/github.com/containerd/containerd/api/services/ttrpc/events/v1/events_pb.js';
import { TaskExitSchema } from '../../src/gen/github.com/containerd/containerd/api/events/task_pb.js';
import { EventSender } from '../../src/sandboxer/tasks/event-sender.js';

test('an event sent while containerd is down arrives when it comes back, with its own time; once dropped, the next is tried once', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'evs-'));
  const sock = path.join(dir, 'ttrpc.sock');
  const got: Array<{ topic: string; at: Date; id: string }> = [];
  const server = new TtrpcServer().registerService(Events, {
    forward: (r) => {
      const e = r.envelope!;
      got.push({ topic: e.topic, at: timestampDate(e.timestamp!), id: fromBinary(TaskExitSchema, e.event!.value).containerId });
      return {};
    },
  });
  const sender = new EventSender(undefined, 20); // tries 20, 40, 60, 80, 100 ms apart
  try {
    const t0 = Date.now();
    const sent = sender.send(`unix://${sock}`, 'default', '/tasks/exit', 'exit', { containerId: 'c1', id: 'c1', pid: 7, exitStatus: 3 });
    await new Promise((r) => setTimeout(r, 70));
    const up = Date.now();
    await server.listen(sock);
    await sent;
    assert.deepEqual(got.map((g) => [g.topic, g.id]), [['/tasks/exit', 'c1']]);
    const at = got[0]!.at.getTime();
    assert.ok(at >= t0 - 1 && at < up, 'the envelope is stamped when the event happened, not at the try that got through (after the server came up)');
    await server.close();

    // nobody there past all tries: dropped; the next event to that address is tried once (no 15 s backlog)
    const dead = `unix://${path.join(dir, 'nobody.sock')}`;
    let t = Date.now();
    await sender.send(dead, 'default', '/tasks/exit', 'exit', { containerId: 'c2' });
    const allTries = Date.now() - t;
    assert.ok(allTries >= 300, 'all five tries');
    t = Date.now();
    await sender.send(dead, 'default', '/tasks/exit', 'exit', { containerId: 'c3' });
    // no waits between tries: well under the 300 ms of waits the five tries had (a loaded host slows both alike)
    assert.ok(Date.now() - t < allTries - 200, `one try: ${Date.now() - t} ms, five: ${allTries} ms`);
  } finally {
    sender.close();
    await server.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
