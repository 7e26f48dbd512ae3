import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startBackends, stopAll, type Backend } from '../../helpers/backends.ts';
import { raw, startProxy, upstream, type Reply, type TestProxy } from '../../helpers/proxy.ts';

// Sticky cookies through the proxy (spec/balancing.md § sticky): a signed
// cookie naming the server by identity pins a client, across runtimes.

function config(backends: Backend[]) {
  return (port: number) => `${upstream('app', backends.map((b) => b.address), 'sticky cookie srv secret=s3cret-key-for-tests httponly;')}
    server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`;
}

/** The `srv=` value a response sets, or null. */
function pinned(r: Reply): string | null {
  const sc = r.headers['set-cookie'];
  const list = sc === undefined ? [] : Array.isArray(sc) ? sc : [sc];
  for (const c of list) {
    const m = /^srv=([^;]*)/.exec(c);
    if (m) return m[1];
  }
  return null;
}

async function withCookie(p: TestProxy, value: string | null): Promise<Reply> {
  return p.get('/', value === null ? {} : { headers: { cookie: `other=1; srv=${value}` } });
}

describe('sticky cookie', { timeout: 20_000 }, () => {
  let bs: Backend[];
  before(async () => { bs = await startBackends(3); });
  after(async () => { await stopAll(bs); });

  test('a client keeps its server over 100 requests and across a restart of the runtime', async () => {
    let p = await startProxy(config(bs));
    let cookie: string;
    let home: string;
    try {
      const first = await withCookie(p, null);
      assert.equal(first.status, 200);
      cookie = pinned(first)!;
      assert.ok(cookie, 'the first response pins');
      assert.match(String(first.headers['set-cookie']), /; Path=\/; HttpOnly/);
      // The cookie names no address.
      for (const b of bs) assert.ok(!cookie.includes(String(b.port)));
      home = String(first.headers['x-backend']);
      for (let k = 0; k < 100; k++) {
        const r = await withCookie(p, cookie);
        assert.equal(r.headers['x-backend'], home);
        assert.equal(pinned(r), null, 'no Set-Cookie while the pin holds');
      }
    } finally {
      await p.close();
    }
    // A new runtime with the same config (as after a restart, or another instance).
    p = await startProxy(config(bs));
    try {
      for (let k = 0; k < 10; k++) assert.equal((await withCookie(p, cookie)).headers['x-backend'], home);
    } finally {
      await p.close();
    }
  });

  test('a tampered cookie is ignored and the client is re-pinned', async () => {
    const p = await startProxy(config(bs));
    try {
      const good = pinned(await withCookie(p, null))!;
      const sig = good.slice(-1) === 'A' ? 'B' : 'A';
      for (const bad of [good.slice(0, -1) + sig, (good[0] === 'x' ? 'y' : 'x') + good.slice(1), 'garbage', `${good}x`, '']) {
        const r = await withCookie(p, bad);
        assert.equal(r.status, 200);
        const fresh = pinned(r);
        assert.ok(fresh, `re-pinned after ${JSON.stringify(bad)}`);
        // The new pin is valid: it holds.
        const home = r.headers['x-backend'];
        for (let k = 0; k < 5; k++) {
          const again = await withCookie(p, fresh);
          assert.equal(again.headers['x-backend'], home);
          assert.equal(pinned(again), null);
        }
      }
    } finally {
      await p.close();
    }
  });

  test('when the pinned server dies the client moves, without an error, and is re-pinned', async () => {
    const three = await startBackends(3);
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(three));
      const first = await withCookie(p, null);
      const cookie = pinned(first)!;
      const home = three.find((b) => b.name === first.headers['x-backend'])!;
      await home.kill();
      const moved = await withCookie(p, cookie);
      assert.equal(moved.status, 200);
      assert.notEqual(moved.headers['x-backend'], home.name);
      const next = pinned(moved);
      assert.ok(next && next !== cookie, 're-pinned to the new server');
      for (let k = 0; k < 10; k++) {
        const r = await withCookie(p, next);
        assert.equal(r.headers['x-backend'], moved.headers['x-backend']);
        assert.equal(pinned(r), null);
      }
      // The old cookie, while its server is out, is also moved and re-pinned (without an error).
      const stale = await withCookie(p, cookie);
      assert.equal(stale.status, 200);
      assert.ok(pinned(stale));
    } finally {
      await p?.close();
      await stopAll(three);
    }
  });

  test('an upgrade (WebSocket) is pinned too, and follows the pin', async () => {
    const ws = await startBackends(2);
    for (const b of ws) {
      b.server.on('upgrade', (_req, socket: Duplex) => {
        socket.on('error', () => {});
        socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Backend: ${b.name}\r\n\r\n`);
      });
    }
    let p: TestProxy | undefined;
    try {
      p = await startProxy(config(ws));
      const upgrade = (cookie: string) => raw(p!.port, `GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${cookie}\r\n`);
      const first = await upgrade('');
      assert.match(first, /^HTTP\/1\.1 101 /);
      const cookie = /\r\nset-cookie: srv=([^;\r]+)/i.exec(first)?.[1];
      assert.ok(cookie, first);
      const home = /\r\nx-backend: (\w+)/i.exec(first)![1];
      for (let k = 0; k < 4; k++) {
        const again = await upgrade(`Cookie: srv=${cookie}\r\n`);
        assert.equal(/\r\nx-backend: (\w+)/i.exec(again)![1], home);
        assert.doesNotMatch(again, /set-cookie/i);
      }
    } finally {
      await p?.close();
      await stopAll(ws);
    }
  });
});
