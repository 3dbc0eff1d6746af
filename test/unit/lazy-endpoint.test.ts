// common/lazy-endpoint: what serves a socket loads with a client's first bytes, not with its
// connect (a liveness probe that hangs up loads nothing), and the bytes that made it load reach
// the server intact, for every client that spoke while it loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { serveLazily, type ConnectionServer } from '../../src/common/lazy-endpoint.js';
import { claimSocket } from '../../src/common/unixsocket.js';
import { Logger } from '../../src/common/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An echo server, loaded after `delayMs`; counts its loads. */
function echoLoader(delayMs: number) {
  const state = { loads: 0 };
  const load = async (): Promise<ConnectionServer> => {
    state.loads++;
    await sleep(delayMs);
    const socks = new Set<net.Socket>();
    return {
      serve: (c) => { socks.add(c); c.on('data', (d: Buffer) => c.write(d)); c.on('end', () => c.end()); },
      close: async () => { for (const s of socks) s.destroy(); },
    };
  };
  return { state, load };
}

/** Connect, send `msg` (in two writes), read until `msg.length` bytes came back. */
function echo(sock: string, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let got = '';
    c.on('error', reject);
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= msg.length) { c.destroy(); resolve(got); }
    });
    c.once('connect', () => {
      c.write(msg.slice(0, 3));
      setTimeout(() => c.write(msg.slice(3)), 20);
    });
  });
}

test('a connection that hangs up before it speaks loads nothing; the first bytes load the server and reach it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'tslazy-'));
  const sock = path.join(dir, 's.sock');
  const { state, load } = echoLoader(100);
  const ep = await serveLazily(await claimSocket(sock), 'test', load, new Logger('error'));
  try {
    // probes: connect and end, or connect and drop
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        const c = net.connect(sock);
        c.once('connect', () => { if (i === 2) c.destroy(); else c.end(); resolve(); });
        c.once('error', reject);
      });
    }
    await sleep(100);
    assert.equal(state.loads, 0, 'a probe loaded the server');
    assert.equal(ep.loaded, false);

    // three clients speak while it loads: one load, each gets its own bytes back, whole
    const msgs = ['hello, lazy world', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'x'.repeat(100_000)];
    const got = await Promise.all(msgs.map((m) => echo(sock, m)));
    assert.deepEqual(got, msgs);
    assert.equal(state.loads, 1);
    assert.equal(ep.loaded, true);
    // and once loaded, a client is served at once
    assert.equal(await echo(sock, 'again'), 'again');
  } finally {
    await ep.close();
    await rm(dir, { recursive: true, force: true });
  }
});
