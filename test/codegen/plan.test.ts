import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkText } from '../../compiler/check.ts';
import { compilePlan, loadPlan } from '../../compiler/plan.ts';

// The Plan's API: listeners, routers, frozen tables, a self-contained source.

const text = [
  'upstream app { server 10.0.0.1:80; }',
  'server {',
  '    listen 80;',
  '    listen 127.0.0.1:9090;',
  '    server_name a.example;',
  '    location / { proxy_pass http://app; }',
  '    location = /x { return 204; }',
  '}',
  'server {',
  '    listen 80 default_server;',
  '    listen 9090;',
  '    server_name b.example;',
  '    location /b/ { proxy_pass http://app; }',
  '}',
].join('\n');

test('listeners: one per address:port, with its server blocks and default', () => {
  const { plan } = compilePlan(checkText(text, 'plan.lbconf'));
  assert.deepEqual(plan.listeners.map((l) => [l.key, l.servers, l.defaultServer]), [['*:80', [0, 1], 1], ['127.0.0.1:9090', [0], 0], ['*:9090', [1], 1]]);
  assert.equal(plan.listenerIndex('127.0.0.1', 9090), 1);
  assert.equal(plan.listenerIndex('10.1.1.1', 9090), 2);
  assert.equal(plan.listenerIndex('10.1.1.1', 80), 0);
  assert.equal(plan.listenerIndex('10.1.1.1', 81), -1);
  assert.equal(plan.route(99, 'a.example', '/'), -1);
});

test('route() and routers agree; the Host is compared without case, port or trailing dot', () => {
  const { plan } = compilePlan(checkText(text, 'plan.lbconf'));
  for (const host of ['a.example', 'A.Example', 'a.example:80', 'a.example:8080', 'a.example.', 'A.EXAMPLE.:80']) {
    assert.equal(plan.routes[plan.route(0, host, '/x')].text, 'location = /x', host);
    assert.equal(plan.routers[0](host, '/x'), plan.route(0, host, '/x'));
  }
  assert.equal(plan.routes[plan.route(0, 'nobody', '/b/c')].text, 'location /b/');
  assert.equal(plan.routes[plan.route(0, '', '/')].server, 1);
  // On 127.0.0.1:9090 only the first block listens, whatever the Host.
  assert.equal(plan.routes[plan.route(1, 'b.example', '/b/c')].server, 0);
});

test('the tables are frozen, and each route carries its data and source line', () => {
  const { plan } = compilePlan(checkText(text, 'plan.lbconf'));
  const r = plan.routes[plan.route(0, 'a.example', '/x')];
  assert.deepEqual({ kind: r.kind, status: r.status, source: r.source }, { kind: 'return', status: 204, source: { file: 'plan.lbconf', line: 7, column: 5 } });
  const p = plan.routes[plan.route(0, 'a.example', '/y')];
  assert.deepEqual({ kind: p.kind, upstream: p.upstream, status: p.status }, { kind: 'proxy', upstream: 'app', status: 0 });
  const none = plan.routes[plan.route(0, 'b.example', '/nothing')];
  assert.deepEqual({ kind: none.kind, status: none.status, location: none.location }, { kind: 'none', status: 404, location: null });
  assert.ok(Object.isFrozen(plan.routes) && Object.isFrozen(r) && Object.isFrozen(r.settings) && Object.isFrozen(plan.upstreams[0].servers[0]));
  assert.throws(() => { (plan.routes as unknown as unknown[]).push(1); });
});

test('the source is self-contained: a worker can load the same Plan from it', () => {
  const { plan, source } = compilePlan(checkText(text, 'plan.lbconf'));
  const again = loadPlan(source);
  assert.deepEqual(again.routes, plan.routes);
  assert.equal(again.route(0, 'a.example', '/x'), plan.route(0, 'a.example', '/x'));
  assert.doesNotMatch(source, /\brequire\(|\bimport\b/);
  for (const line of [6, 7, 13]) assert.match(source, new RegExp(`plan\\.lbconf:${line}\\)`), `a comment names line ${line}`);
});

test('compilePlan refuses a config with errors', () => {
  const bad = checkText('server { listen 80; location / { proxy_pass http://nowhere; } }', 'bad.lbconf');
  assert.ok(bad.diagnostics.some((d) => d.severity === 'error'));
  assert.throws(() => compilePlan(bad), /has errors/);
});
