import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backend, stopAll, type Behavior } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/proxy.ts';
import { serverState } from '../../../runtime/upstream/server-state.ts';

// Passive health never locks a site out (nginx's rules, issue 15 item 1): a
// group of one server never marks it unavailable, and when every server has
// failed out, the next request tries them again instead of 503 for fail_timeout.

const hello: Behavior = (req, res, b) => { req.resume(); res.end(`hello from ${b.name}`); };

describe('passive health and a lone server', { timeout: 30_000 }, () => {
  test('an app that restarts: one 502, then served as soon as it is back (no 503 for fail_timeout)', async () => {
    const app = await new Backend('app', hello).listen();
    const p = await startProxy((port) => `server { listen 127.0.0.1:${port}; location / { proxy_pass http://${app.address}; } }`);
    try {
      assert.equal((await p.get('/')).status, 200);
      await app.kill();
      assert.equal((await p.get('/')).status, 502);
      assert.equal((await p.get('/')).status, 502, 'still down: tried again, not refused');
      await app.restart();
      const r = await p.get('/');
      assert.equal(r.status, 200, 'back at once');
      assert.equal(r.body, 'hello from app');
    } finally {
      await p.close();
      await stopAll([app]);
    }
  });

  test('one slow request that times out (504) does not shut out the next ones', async () => {
    let slow = true;
    const app = await new Backend('app', (req, res) => { req.resume(); if (slow) { slow = false; return; } res.end('ok'); }).listen();
    const p = await startProxy((port) => `
      upstream one { server ${app.address} max_fails=1 fail_timeout=30s; }
      server { listen 127.0.0.1:${port}; proxy_read_timeout 300ms; proxy_next_upstream off; location / { proxy_pass http://one; } }`);
    try {
      assert.equal((await p.get('/')).status, 504);
      assert.equal((await p.get('/')).status, 200);
    } finally {
      await p.close();
      await stopAll([app]);
    }
  });
});

describe('passive health when every server has failed out', { timeout: 30_000 }, () => {
  test('the next request tries them again; the status says failed, with the time left', async () => {
    const a = await new Backend('a', hello).listen();
    const b = await new Backend('b', hello).listen();
    const p = await startProxy((port) => `
      upstream app { server ${a.address} max_fails=1 fail_timeout=30s; server ${b.address} max_fails=1 fail_timeout=30s; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    try {
      await a.kill();
      await b.kill();
      assert.equal((await p.get('/')).status, 502);
      const up = p.rt.upstreams.get('app')!;
      assert.deepEqual([serverState(up, 0), serverState(up, 1)], ['failed', 'failed']);
      assert.ok(up.peers.failedUntil(0) - Date.now() > 25_000, 'back in about fail_timeout');
      await b.restart();
      const r = await p.get('/');
      assert.equal(r.status, 200, 'tried again at once, not 503 for 30 s');
      assert.equal(r.body, 'hello from b');
      assert.equal(serverState(up, 1), 'up');
      // The transitions are in the log.
      assert.ok(p.logs.some((l) => l.level === 'warn' && new RegExp(`server app/${b.address.replace(/\./g, '\\.')} failed out for 30s after 1 failure`).test(l.message)));
    } finally {
      await p.close();
      await stopAll([a, b]);
    }
  });

  test('servers taken out by the config or the admin API stay out: 503', async () => {
    const a = await new Backend('a', hello).listen();
    const p = await startProxy((port) => `
      upstream app { server ${a.address} down; server 127.0.0.1:1 down; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    try {
      assert.equal((await p.get('/')).status, 503);
      assert.equal(a.requests, 0);
    } finally {
      await p.close();
      await stopAll([a]);
    }
  });
});

describe('proxy_read_timeout covers the wait for the response head, as in nginx (issue 15 item 2)', { timeout: 30_000 }, () => {
  test('a server that sends nothing gets 504 after proxy_read_timeout, not a separate 60 s header timeout', async () => {
    const silent = await new Backend('silent', (req) => { req.resume(); }).listen();
    const p = await startProxy((port) => `
      upstream s { server ${silent.address}; }
      server { listen 127.0.0.1:${port}; proxy_read_timeout 400ms; location / { proxy_pass http://s; } location /long/ { proxy_read_timeout 30s; proxy_header_timeout 300ms; proxy_pass http://s; } }`);
    try {
      const t0 = Date.now();
      assert.equal((await p.get('/')).status, 504);
      const took = Date.now() - t0;
      assert.ok(took >= 350 && took < 3000, `504 after ${took} ms`);
      // proxy_header_timeout, when set, is the head's own (shorter here) timeout.
      const t1 = Date.now();
      assert.equal((await p.get('/long/x')).status, 504);
      assert.ok(Date.now() - t1 < 3000);
    } finally {
      await p.close();
      await stopAll([silent]);
    }
  });
});
