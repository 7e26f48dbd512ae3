import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Backend } from '../../helpers/backends.ts';
import { startProxy, until, upstream, within, type TestProxy } from '../../helpers/proxy.ts';

// WebSocket (and any Upgrade) through the proxy: the backend does the
// handshake by hand and then echoes bytes; the proxy joins the two sockets.

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string) => createHash('sha1').update(key + GUID).digest('base64');

/** Upgraded sockets the backend holds, so tests can watch them close. */
const upgraded = new Set<Duplex>();
let seenHeaders: IncomingMessage['headers'] = {};
let seenUrl = '';
let hanging: Duplex | null = null;

function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
  seenHeaders = req.headers;
  seenUrl = req.url!;
  socket.on('error', () => {});
  if (req.url === '/hang') {
    // Never answers; closes when the proxy does (the socket allows half-open, as every upgraded socket).
    hanging = socket;
    socket.on('end', () => socket.end());
    return;
  }
  if (req.url === '/deny') {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden');
    return;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\n\r\n`);
  upgraded.add(socket);
  socket.on('close', () => upgraded.delete(socket));
  // Server-to-client first, then echo whatever the client sends (including bytes that came with the handshake).
  socket.write('welcome;');
  if (head.length > 0) socket.write(head);
  socket.pipe(socket);
}

/** Reads from `s` until `text` (latin1) ends with / contains `want`. */
async function readUntil(s: Socket, state: { text: string }, want: string | RegExp): Promise<string> {
  const hit = () => (typeof want === 'string' ? state.text.includes(want) : want.test(state.text));
  if (hit()) return state.text;
  await within(new Promise<void>((resolve, reject) => {
    const onData = () => { if (hit()) { s.off('data', onData); resolve(); } };
    s.on('data', onData);
    s.once('close', () => (hit() ? resolve() : reject(new Error(`closed before ${want}: ${JSON.stringify(state.text)}`))));
  }), 3000, `${want}`);
  return state.text;
}

async function open(port: number, path: string, extra = ''): Promise<{ s: Socket; state: { text: string } }> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  const state = { text: '' };
  s.setEncoding('latin1');
  s.on('data', (c: string) => { state.text += c; });
  await once(s, 'connect');
  s.write(`GET ${path} HTTP/1.1\r\nHost: chat.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n${extra}`);
  return { s, state };
}

describe('websocket', { timeout: 20_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  before(async () => {
    b = await new Backend('ws').listen();
    b.server.on('upgrade', onUpgrade);
    p = await startProxy((port) => `${upstream('app', [b.address])}
      server {
        listen 127.0.0.1:${port};
        location / { proxy_pass http://app; }
        location /closed/ { deny all; proxy_pass http://app; }
        location /wsapi/ { proxy_pass http://app/; }
        location /wsv/ { proxy_set_header X-V $arg_v; proxy_pass http://app; }
      }`);
  });
  after(async () => {
    for (const s of upgraded) s.destroy();
    hanging?.destroy();
    await p?.close();
    await b?.kill();
  });

  test('the handshake is relayed and bytes flow both ways', async () => {
    const { s, state } = await open(p.port, '/chat');
    try {
      const text = await readUntil(s, state, 'welcome;');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.match(head, /\r\nconnection: Upgrade\r\n/i);
      assert.match(head, /\r\nupgrade: websocket(\r\n|$)/i);
      assert.match(head, new RegExp(`\r\nsec-websocket-accept: ${accept('dGhlIHNhbXBsZSBub25jZQ==').replace(/[+/=]/g, '\\$&')}`, 'i'));
      // What the backend saw: the WebSocket headers, and lbconf's own.
      assert.equal(seenHeaders['sec-websocket-key'], 'dGhlIHNhbXBsZSBub25jZQ==');
      assert.equal(seenHeaders.upgrade, 'websocket');
      assert.equal(seenHeaders['x-forwarded-for'], '127.0.0.1');
      s.write('ping-1;');
      await readUntil(s, state, 'ping-1;');
      const big = 'z'.repeat(200_000);
      s.write(big);
      await readUntil(s, state, big);
    } finally {
      s.destroy();
    }
    // The client left: the backend's socket closes too.
    await until(() => upgraded.size === 0, 3000, 'the backend socket to close');
  });

  test('bytes sent together with the handshake are not lost', async () => {
    const { s, state } = await open(p.port, '/chat', 'early-bytes;');
    try {
      await readUntil(s, state, /welcome;early-bytes;/);
    } finally {
      s.destroy();
    }
  });

  test('the backend closing closes the client', async () => {
    const { s, state } = await open(p.port, '/chat');
    const closed = once(s, 'close');
    await readUntil(s, state, 'welcome;');
    for (const u of upgraded) u.end();
    await within(closed, 3000, 'the client socket to close');
  });

  test('a backend that refuses the upgrade with 403: the client gets 403 and the connection closes', async () => {
    const { s, state } = await open(p.port, '/deny');
    const closed = once(s, 'close');
    await within(closed, 3000, 'the client socket to close');
    assert.match(state.text, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(state.text, /\r\ncontent-length: 9\r\n/i);
    assert.match(state.text, /\r\nconnection: close\r\n/i);
    assert.ok(state.text.endsWith('\r\n\r\nforbidden'), JSON.stringify(state.text));
    // The proxy keeps serving upgrades.
    const again = await open(p.port, '/chat');
    await readUntil(again.s, again.state, 'welcome;');
    again.s.destroy();
  });

  test('an upgrade to a server that refuses connections gets 502; nothing is left in flight', async () => {
    const dead = await startProxy((port) => `upstream gone { server 127.0.0.1:1 max_fails=0; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://gone; } }`);
    try {
      const { s, state } = await open(dead.port, '/chat');
      await within(once(s, 'close'), 3000, 'close');
      assert.match(state.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
      assert.equal(dead.rt.upstreams.get('gone')!.peers.totalInflight, 0);
    } finally {
      await dead.close();
    }
    await until(() => p.rt.upstreams.get('app')!.peers.totalInflight === 0, 3000, 'no upgrade in flight');
  });

  test('proxy_pass with a URI rewrites the upgrade target as it does for requests', async () => {
    const { s, state } = await open(p.port, '/wsapi/chat?room=1');
    await readUntil(s, state, 'welcome;');
    s.destroy();
    assert.equal(seenUrl, '/chat?room=1');
  });

  test('a client that leaves before the 101, or a header value HTTP cannot carry, does not blame the server', async () => {
    const peers = p.rt.upstreams.get('app')!.peers;
    const { s } = await open(p.port, '/hang');
    await until(() => hanging !== null, 3000, 'the upgrade at the backend');
    s.destroy();
    await until(() => hanging!.destroyed, 3000, 'the backend socket to close');
    await until(() => peers.totalInflight === 0, 3000, 'nothing in flight');
    // No variable yields a CR (the path refuses controls, $arg_ is not decoded): a value that cannot be carried is injected.
    const route = (p.rt as unknown as { active: { routes: Array<{ proxy: { headers: Array<{ name: string; value: unknown }> } | null }> } }).active.routes
      .find((r) => r.proxy?.headers.some((h) => h.name === 'x-v'))!;
    const rule = route.proxy!.headers.find((h) => h.name === 'x-v')!;
    const value = rule.value;
    rule.value = () => null;
    try {
      const bad = await open(p.port, '/wsv/?v=1');
      await within(once(bad.s, 'close'), 3000, 'close');
      assert.match(bad.state.text, /^HTTP\/1\.1 400 /);
    } finally {
      rule.value = value;
    }
    assert.equal(peers.fails[0], 0);
    const again = await open(p.port, '/chat');
    await readUntil(again.s, again.state, 'welcome;');
    again.s.destroy();
  });

  test('access rules apply to upgrades', async () => {
    const { s, state } = await open(p.port, '/closed/x');
    await within(once(s, 'close'), 3000, 'close');
    assert.match(state.text, /^HTTP\/1\.1 403 /);
  });
});
