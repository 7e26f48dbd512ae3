import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { scryptHash } from '../../../runtime/filters/auth.ts';
import { authorization, usersFile } from '../../helpers/auth.ts';
import { startProxy, within, type TestProxy } from '../../helpers/proxy.ts';

// The last resort guards the continuations of basic auth too: runtime/http/front.ts
// dispatch() and upgradeChecked() go on after an scrypt check (off the event
// loop). An exception thrown there must be a 500 for that request, logged, not
// an unhandled rejection (which ends the process under Node's default). Faults
// are injected into the route, as request-path.test.ts does.

describe('a fault after an asynchronous basic auth check', { timeout: 20_000 }, () => {
  let p: TestProxy;
  const users = usersFile([`carol:${scryptHash('s3cret', randomBytes(16), 1024)}`, `dave:${scryptHash('hunter2', randomBytes(16), 1024)}`]);
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => { rejections.push(e); };
  let route: Record<string, unknown>;

  before(async () => {
    // Kept from ending the test process, so that the test can say what happened.
    process.on('unhandledRejection', onRejection);
    p = await startProxy((port) => `
      server {
        listen 127.0.0.1:${port};
        location = /private { auth_basic "staff"; auth_basic_user_file ${users}; return 200 "fine"; }
      }`);
    const routes = (p.rt as unknown as { active: { routes: Array<Record<string, unknown>> } }).active.routes;
    route = routes.find((r) => r.kind === 'return' && r.auth !== null)!;
  });

  after(async () => {
    process.off('unhandledRejection', onRejection);
    await p.close();
  });

  async function noRejection(): Promise<void> {
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(rejections.map(String), [], 'no unhandled rejection (it would end the process)');
  }

  test('a request: answers 500 for it and logs the fault', async () => {
    const text = route.text;
    route.text = () => { throw new Error('injected fault after auth'); };
    try {
      const r = await within(p.get('/private', { headers: { authorization: authorization('carol', 's3cret') } }), 3000, 'an answer');
      assert.equal(r.status, 500);
      assert.ok(p.logs.some((l) => l.level === 'error' && l.message.includes('injected fault after auth')), 'the fault is logged');
    } finally {
      route.text = text;
      await noRejection();
    }
  });

  test('an upgrade: refuses it with 500 and logs the fault', async () => {
    const status = Object.getOwnPropertyDescriptor(route, 'status')!;
    // Read by upgradeChecked() only once auth has passed (a return route refuses upgrades with its status).
    Object.defineProperty(route, 'status', { configurable: true, get: () => { throw new Error('injected upgrade fault after auth'); } });
    try {
      // Another user than the first test's, whose header is remembered and answered at once, without the asynchronous path.
      const got = new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: p.port, path: '/private', headers: { connection: 'Upgrade', upgrade: 'websocket', authorization: authorization('dave', 'hunter2') } });
        req.on('upgrade', (res: IncomingMessage, socket) => { socket.destroy(); resolve(res.statusCode!); });
        req.on('response', (res: IncomingMessage) => { res.resume(); resolve(res.statusCode!); });
        req.on('error', reject);
        req.end();
      });
      assert.equal(await within(got, 3000, 'an answer'), 500);
      assert.ok(p.logs.some((l) => l.level === 'error' && l.message.includes('injected upgrade fault after auth')), 'the fault is logged');
    } finally {
      Object.defineProperty(route, 'status', status);
      await noRejection();
    }
  });
});
