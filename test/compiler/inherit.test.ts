import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptySettings } from '../../compiler/inherit.ts';
import { check, clean } from './helpers.ts';

// nginx's inheritance, as the IR shows it after lowering: every server and location
// carries its resolved settings.

const config = `
proxy_connect_timeout 5s;
proxy_set_header X-Top 1;
allow 10.0.0.0/8;
deny all;

server {
    listen 80;
    proxy_read_timeout 2m;

    location / {
        return 204;
        location /deep/ {
            proxy_send_timeout 7s;
            return 204;
        }
    }
    location /own {
        proxy_connect_timeout 1s;
        proxy_set_header X-Own 2;
        allow all;
        return 204;
        location /own/inner {
            return 204;
        }
    }
}

server {
    listen 81;
    proxy_set_header X-Server 3;
    deny 10.9.0.0/16;
    location / {
        return 204;
    }
}
`;

describe('inheritance of settings', () => {
  const ir = clean(config);
  const [first, second] = ir.servers;
  const [root, own] = first.locations;
  const [deep] = root.locations;
  const [inner] = own.locations;

  it('gives a level without settings its defaults', () => {
    const ir = clean('server { location / { return 204; } }');
    assert.deepEqual(ir.servers[0].settings, emptySettings());
    assert.deepEqual(ir.servers[0].locations[0].settings, emptySettings());
    assert.deepEqual(emptySettings(), {
      setHeaders: [], connectTimeout: 60_000, sendTimeout: 60_000, readTimeout: 60_000, headerTimeout: -1, requestTimeout: 0,
      nextUpstream: ['error', 'timeout'], nextUpstreamTries: 0, nextUpstreamTimeout: 0, access: [],
      addHeaders: [], hideHeaders: [], passHeaders: [], serverTokens: false, errorPages: [],
      clientMaxBodySize: 1024 * 1024, clientBodyTimeout: 60_000, sendClientTimeout: 60_000, clientHeaderTimeout: 60_000, clientMaxHeaderSize: 16 * 1024, clientMaxHeaders: 100,
      clientMaxUriLength: 8 * 1024, keepaliveTimeout: 75_000, keepaliveRequests: 1000, maxConnections: 0, http2MaxConcurrentStreams: 128,
      limitReq: [], limitReqStatus: 429, limitConn: [], limitConnStatus: 429,
      realIpFrom: [], realIpHeader: 'x-real-ip', realIpRecursive: false, authBasic: null, authBasicUserFile: null, authBasicLimit: null, accessLog: null,
      gzip: false, gzipTypes: ['text/html'], gzipMinLength: 20, gzipCompLevel: 1, gzipProxied: ['off'], gzipVary: true, compress: ['zstd', 'br', 'gzip'], brotliCompLevel: 4, zstdCompLevel: 3,
      cache: null, cacheKey: [{ var: 'scheme' }, { var: 'authority' }, { var: 'request_uri' }], cacheLock: true, cacheLockTimeout: 5000, cacheBypass: [], cacheNoStore: [], cacheValid: [], cachePurge: null, cacheStatusHeader: 'x-cache-status',
    });
  });

  it('passes top-level settings to servers and their locations', () => {
    assert.equal(first.settings.connectTimeout, 5000);
    assert.equal(root.settings.connectTimeout, 5000);
    assert.equal(deep.settings.connectTimeout, 5000);
    assert.equal(second.locations[0].settings.connectTimeout, 5000);
  });

  it('passes server settings to every location, nested ones too', () => {
    assert.equal(first.settings.readTimeout, 120_000);
    assert.equal(root.settings.readTimeout, 120_000);
    assert.equal(deep.settings.readTimeout, 120_000);
    assert.equal(inner.settings.readTimeout, 120_000);
    assert.equal(second.settings.readTimeout, 60_000);
  });

  it('lets an inner level override a value, for itself and the levels inside it only', () => {
    assert.equal(own.settings.connectTimeout, 1000);
    assert.equal(inner.settings.connectTimeout, 1000);
    assert.equal(root.settings.connectTimeout, 5000);
    assert.equal(deep.settings.sendTimeout, 7000);
    assert.equal(root.settings.sendTimeout, 60_000);
  });

  it('inherits a list whole when a level writes none of it', () => {
    assert.deepEqual(root.settings.setHeaders, [{ name: 'X-Top', value: ['1'] }]);
    assert.deepEqual(deep.settings.setHeaders, [{ name: 'X-Top', value: ['1'] }]);
    assert.deepEqual(root.settings.access, [{ action: 'allow', source: '10.0.0.0/8' }, { action: 'deny', source: 'all' }]);
  });

  it('replaces a list whole, never merges it, when a level writes one entry', () => {
    assert.deepEqual(own.settings.setHeaders, [{ name: 'X-Own', value: ['2'] }]);
    assert.deepEqual(own.settings.access, [{ action: 'allow', source: 'all' }]);
    assert.deepEqual(inner.settings.setHeaders, [{ name: 'X-Own', value: ['2'] }]);
    assert.deepEqual(inner.settings.access, [{ action: 'allow', source: 'all' }]);
    assert.deepEqual(second.settings.setHeaders, [{ name: 'X-Server', value: ['3'] }]);
    assert.deepEqual(second.locations[0].settings.access, [{ action: 'deny', source: '10.9.0.0/16' }]);
  });

  it('replaces the headers list and the access list independently', () => {
    const ir = clean('proxy_set_header X-A 1;\nallow 10.0.0.0/8;\nserver { location / { deny all; return 204; } }');
    const l = ir.servers[0].locations[0];
    assert.deepEqual(l.settings.setHeaders, [{ name: 'X-A', value: ['1'] }]);
    assert.deepEqual(l.settings.access, [{ action: 'deny', source: 'all' }]);
  });

  it('keeps the resolved IR plain JSON', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(ir)), ir);
  });

  it('reports an out-of-range inherited value once, where it was written', () => {
    const result = check('proxy_send_timeout 0;\nserver { location /a { return 204; } location /b { return 204; location /b/c { return 204; } } }\nserver { listen 81; location / { return 204; } }');
    assert.deepEqual(result.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code} ${d.message}`), ['1:20 invalid-value `proxy_send_timeout` must be at least 1 (got 0)']);
  });

  it('reports an out-of-range server setting once, at the server level', () => {
    const result = check('server {\n    proxy_next_upstream_tries 101;\n    location /a { return 204; }\n    location /b { return 204; }\n}');
    assert.deepEqual(result.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`), ['2:31 invalid-value']);
  });
});
