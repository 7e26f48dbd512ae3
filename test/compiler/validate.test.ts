import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { irSchema } from '../../compiler/schema.ts';
import { validateSchema } from '../../compiler/validate.ts';
import type { Span } from '../../lang/ast.ts';
import { check, clean, inLocation, only, withUpstream } from './helpers.ts';

// The JSON Schema rejects values out of range; each error is mapped back to the
// argument that produced the value.

describe('schema errors, mapped to the source', () => {
  const cases: [string, string, string, string][] = [
    // [source, range, message, what]
    [withUpstream('    server 10.0.0.1 weight=0;'), '2:21-2:29', '`weight` must be at least 1 (got 0)', 'weight'],
    [withUpstream('    server 10.0.0.1 weight=1001;'), '2:21-2:32', '`weight` must be at most 1000 (got 1001)', 'weight'],
    [withUpstream('    server 10.0.0.1 max_fails=-1;'), '2:21-2:33', '`max_fails` must be at least 0 (got -1)', 'max_fails'],
    [withUpstream('    server 10.0.0.1 fail_timeout=0;'), '2:21-2:35', '`fail_timeout` must be at least 1 (got 0)', 'fail_timeout'],
    [withUpstream('    server 10.0.0.1 max_conns=1000001;'), '2:21-2:38', '`max_conns` must be at most 1000000 (got 1000001)', 'max_conns'],
    [withUpstream('    server 10.0.0.1;\n    keepalive 100001;'), '3:15-3:21', '`keepalive` must be at most 100000 (got 100001)', 'keepalive'],
    [withUpstream('    server 10.0.0.1;\n    keepalive_timeout 0;'), '3:23-3:24', '`keepalive_timeout` must be at least 1 (got 0)', 'keepalive_timeout'],
    [withUpstream('    server 10.0.0.1;\n    hash $host balance_factor=101;'), '3:16-3:34', '`balance_factor` must be at most 100 (got 101)', 'balance_factor'],
    [withUpstream('    server 10.0.0.1;\n    least_busy decay=0;'), '3:16-3:23', '`decay` must be at least 1 (got 0)', 'decay'],
    [withUpstream('    server 10.0.0.1;\n    sticky cookie s secret=tooshort;'), '3:21-3:36', '`secret` must be at least 16 characters long', 'secret'],
    [withUpstream('    server 10.0.0.1;\n    sticky cookie s secret=0123456789abcdef expires=0;'), '3:45-3:54', '`expires` must be at least 1 (got 0)', 'expires'],
    [withUpstream('    server 10.0.0.1;\n    sticky cookie s secret=0123456789abcdef path=app;'), '3:45-3:53', '`path` must start with `/`', 'the cookie path'],
    [withUpstream('    server 10.0.0.1;\n    health_check interval=99ms;'), '3:18-3:31', '`interval` must be at least 100 (got 99)', 'interval'],
    [withUpstream('    server 10.0.0.1;\n    health_check uri=healthz;'), '3:18-3:29', '`uri` must start with `/`', 'uri'],
    [withUpstream('    server 10.0.0.1;\n    health_check passes=0;'), '3:18-3:26', '`passes` must be at least 1 (got 0)', 'passes'],
    [inLocation('proxy_read_timeout 0; return 204;'), '3:28-3:29', '`proxy_read_timeout` must be at least 1 (got 0)', 'timeout'],
    [inLocation('proxy_next_upstream_tries 101; return 204;'), '3:35-3:38', '`proxy_next_upstream_tries` must be at most 100 (got 101)', 'tries'],
    [inLocation('proxy_request_timeout 4w; return 204;'), '3:31-3:33', '`proxy_request_timeout` must be at most 2147483647 (got 2419200000)', 'a duration too long for a timer'],
  ];
  for (const [source, at, message, what] of cases) {
    it(`points at ${what}`, () => {
      const d = only(source);
      assert.deepEqual([d.at, d.code, d.severity, d.message], [at, 'invalid-value', 'error', message]);
    });
  }

  it('reports several errors of one directive, each at its own argument', () => {
    const result = check(withUpstream('    server 10.0.0.1;\n    health_check passes=0 fails=101;'));
    assert.deepEqual(result.diagnostics.map((d) => `${d.span.start.column}-${d.span.end.column} ${d.message}`), [
      '18-26 `passes` must be at least 1 (got 0)', '27-36 `fails` must be at most 100 (got 101)',
    ]);
  });

  it('reports an upstream with no servers at the upstream block, with a hint', () => {
    const d = only('upstream app {\n}\nserver { location / { proxy_pass http://app; } }');
    assert.deepEqual(d, { at: '1:1-2:2', code: 'invalid-value', severity: 'error', message: '`upstream` has no servers', hint: 'add `server host:port;` inside the upstream' });
  });

  it('gives a value with no recorded source the nearest enclosing one', () => {
    const ir = clean(withUpstream('    server 10.0.0.1;'));
    ir.upstreams[0].servers[0].slowStart = -5;
    const fallback: Span = { file: 'f', start: { line: 9, column: 9, offset: 0 }, end: { line: 9, column: 9, offset: 0 } };
    const serverSpan: Span = { file: 'f', start: { line: 2, column: 5, offset: 20 }, end: { line: 2, column: 25, offset: 40 } };
    const [d] = validateSchema(ir, new Map([['/upstreams/0/servers/0', { span: serverSpan, label: 'the server' }]]), fallback);
    assert.deepEqual([d.message, d.span], ['the server must be at least 0 (got -5)', serverSpan]);
    const [e] = validateSchema(ir, new Map(), fallback);
    assert.deepEqual([e.message, e.span], ['the configuration must be at least 0 (got -5)', fallback]);
  });

  it('accepts the IR of every valid config', () => {
    assert.deepEqual(validateSchema(clean(withUpstream('    server 10.0.0.1;')), new Map(), { file: '', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } }), []);
  });
});

describe('the IR schema', () => {
  it('compiles in strict mode as a standalone draft-07 schema', () => {
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    assert.equal(typeof ajv.compile(irSchema), 'function');
  });

  it('rejects properties it does not know, so a typo in the IR cannot pass', () => {
    const ir = clean(withUpstream('    server 10.0.0.1;')) as unknown as { servers: Record<string, unknown>[] };
    ir.servers[0].extra = 1;
    const ajv = new Ajv({ strict: true, allowUnionTypes: true });
    assert.equal(ajv.validate(irSchema, ir), false);
  });
});
