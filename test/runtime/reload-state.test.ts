import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { PEER_UP } from '../../runtime/upstream/balancers/index.ts';
import { ProxyRuntime } from '../../runtime/control/runtime.ts';
import { Backend, startBackends, stopAll } from '../helpers/backends.ts';
import { compile, freePort } from '../helpers/proxy.ts';

// What a reload keeps: connections on listeners it did not change, and the
// live state of servers that are in both configs.

const upstream = (name: string, backends: Backend[], extra = '') => `upstream ${name} {\n${extra}${backends.map((b) => `    server ${b.address};`).join('\n')}\n}\n`;

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text };
}

test('a WebSocket and a keep-alive connection opened before an unrelated edit still work after it', async () => {
  const [backend] = await startBackends(1);
  backend.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.pipe(socket); // echo
  });
  const port = await freePort();
  const base = `${upstream('app', [backend])}server {\n    listen 127.0.0.1:${port};\n    location / {\n        proxy_pass http://app;\n    }\n`;
  const rt = new ProxyRuntime();
  await rt.load(compile(base + '}\n'));

  const upgradeReq = httpRequest({ port, host: '127.0.0.1', path: '/ws', headers: { connection: 'Upgrade', upgrade: 'websocket' } });
  upgradeReq.end();
  const [res, ws] = (await once(upgradeReq, 'upgrade')) as [IncomingMessage, Socket];
  assert.equal(res.statusCode, 101);
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const keepAlive = async (path: string) => {
    const r = httpRequest({ port, host: '127.0.0.1', path, agent });
    r.end();
    const [resp] = (await once(r, 'response')) as [IncomingMessage];
    resp.resume();
    await once(resp, 'end');
    return { status: resp.statusCode, reused: r.reusedSocket };
  };
  assert.deepEqual(await keepAlive('/one'), { status: 200, reused: false });

  // An edit elsewhere: a new location on the same listener.
  await rt.load(compile(base + '    location = /new {\n        return 200 "new";\n    }\n}\n'));
  assert.equal(rt.generation, 2);

  assert.deepEqual(await keepAlive('/two'), { status: 200, reused: true }, 'the keep-alive connection survived');
  ws.write('ping');
  const [echo] = (await once(ws, 'data')) as [Buffer];
  assert.equal(echo.toString(), 'ping', 'the WebSocket survived');
  assert.equal((await get(port, '/new')).body, 'new');
  ws.destroy();
  agent.destroy();
  await rt.close(500);
  await stopAll([backend]);
});

test('health state, least_conn counts and sticky pins carry over an unrelated edit', async () => {
  const backends = await startBackends(2);
  const port = await freePort();
  const sticky = '    least_conn;\n    sticky cookie lb secret=0123456789abcdef0123;\n';
  const config = (extra: string) => `${upstream('app', backends, sticky)}server {\n    listen 127.0.0.1:${port};\n    location / {\n        proxy_pass http://app;\n    }\n${extra}}\n`;
  const rt = new ProxyRuntime();
  await rt.load(compile(config('')));
  const before = rt.upstreams.get('app')!;
  const first = await get(port, '/');
  const cookie = String(first.headers['set-cookie']).split(';')[0];
  const pinned = JSON.parse(first.body).backend as string;
  // Mark the other server down as a health check would, and hold one request in flight.
  const other = before.peers.ids.findIndex((id) => !id.endsWith(backends.find((b) => b.name === pinned)!.address));
  before.peers.setHealthy(other, false, Date.now());
  before.peers.start(0);

  await rt.load(compile(config('    location = /x {\n        return 204;\n    }\n')));
  const after = rt.upstreams.get('app')!;
  assert.equal(after.peers.state[other] === PEER_UP, false, 'the server marked down stays down');
  assert.equal(after.peers.inflight[0], 1, 'least_conn counts carry over');
  for (let i = 0; i < 5; i++) {
    const r = await get(port, '/', { cookie });
    assert.equal(JSON.parse(r.body).backend, pinned, 'the sticky cookie still pins');
    assert.equal(r.headers['set-cookie'], undefined, 'and is not re-issued');
  }
  before.peers.end(0, true, Date.now());
  await rt.close(500);
  await stopAll(backends);
});

test('a removed upstream gets no new request after the swap; its request in flight completes', async () => {
  const [oldB] = await startBackends(1);
  const [newB] = await startBackends(1);
  let release = () => {};
  const held = new Promise<void>((resolve) => { release = resolve; });
  oldB.behavior = (req, res, b) => {
    void held.then(() => { res.writeHead(200, { 'x-backend': b.name }); res.end('slow'); });
  };
  const port = await freePort();
  const config = (b: Backend, name: string) => `${upstream(name, [b])}server {\n    listen 127.0.0.1:${port};\n    location / {\n        proxy_pass http://${name};\n    }\n}\n`;
  const rt = new ProxyRuntime();
  await rt.load(compile(config(oldB, 'old')));
  const inFlight = get(port, '/slow');
  while (oldB.inflight === 0) await new Promise((r) => setTimeout(r, 5));
  await rt.load(compile(config(newB, 'new')));
  const requestsBefore = oldB.requests;
  for (let i = 0; i < 10; i++) assert.equal((await get(port, '/')).status, 200);
  assert.equal(oldB.requests, requestsBefore, 'no new request reached the removed upstream');
  assert.equal(newB.requests, 10);
  release();
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'slow');
  await rt.close(500);
  await stopAll([oldB, newB]);
});
