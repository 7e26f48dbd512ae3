import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkText } from '../../compiler/check.ts';
import { emptySettings } from '../../compiler/inherit.ts';
import type { ConfigIR, LocationIR } from '../../compiler/ir.ts';
import type { SourceRef } from '../../compiler/lower.ts';
import { compilePlan, loadPlan, planSource } from '../../compiler/plan.ts';

// A hostile path, host, header value, upstream name or file name in a config
// cannot inject code into the generated plan: each must come back out as data.

const EVIL = [
  '"; globalThis.pwned = 1; "',
  "'; globalThis.pwned = 1; '",
  '`; globalThis.pwned = 1; `',
  '${globalThis.pwned = 1}',
  '*/ globalThis.pwned = 1; /*',
  '\n globalThis.pwned = 1; //',
  '\u2028 globalThis.pwned = 1; //',
  '\u2029 globalThis.pwned = 1; //',
  '</script><script>globalThis.pwned = 1</script>',
  '\\"; globalThis.pwned = 1; //',
  ') || (globalThis.pwned = 1',
];

const pwned = () => (globalThis as Record<string, unknown>).pwned;
const escapeRe = (s: string) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

function loc(match: LocationIR['match'], path: string, extra: Partial<LocationIR> = {}): LocationIR {
  return { match, path, proxyPass: { scheme: 'http', upstream: 'u', uri: null }, return: null, settings: emptySettings(), locations: [], ...extra };
}

test('hostile strings in every IR field the generator reads come back out as data', () => {
  for (const evil of EVIL) {
    const settings = { ...emptySettings(), setHeaders: [{ name: `X-${evil}`, value: [evil, { var: 'host' }] }], access: [{ action: 'deny' as const, source: evil }] };
    const ir: ConfigIR = {
      servers: [
        {
          listen: [{ address: '*', port: 80, defaultServer: false, ssl: false }],
          serverNames: [`a${evil}`, `*.${evil}`, `${evil}.*`, `.${evil}b`, `~^${escapeRe(evil)}z$`],
          tls: null,
          return: null,
          settings,
          locations: [
            loc('exact', `/=${evil}`, { settings, proxyPass: { scheme: 'http', upstream: evil, uri: evil } }),
            loc('prefix', `/p${evil}`, { settings, locations: [loc('exact', `/p${evil}/x`), loc('regex', `${escapeRe(evil)}$`)] }),
            loc('prefix-no-regex', `/n${evil}`, { return: { status: 301, text: [evil, { var: 'request_uri' }] }, proxyPass: null }),
            loc('regex', `^/r${escapeRe(evil)}`),
            loc('regex-nocase', `^/i${escapeRe(evil)}`),
          ],
        },
        { listen: [{ address: '*', port: 80, defaultServer: true, ssl: false }], serverNames: ['other'], tls: null, return: null, settings: emptySettings(), locations: [] },
      ],
      upstreams: [{ name: evil, implicit: false, method: { kind: 'hash', key: [evil], consistent: true, balanceFactor: null }, servers: [], keepalive: 0, keepaliveTimeout: 0, sticky: null, healthCheck: null, tls: null }],
    };
    const span = { file: `conf${evil}.lbconf`, start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 2, offset: 1 } };
    const locs = new Map<string, SourceRef>([['/servers/0', { span, label: 'x' }], ['/servers/0/locations/0', { span, label: 'x' }]]);
    for (const minify of [false, true]) {
      const source = planSource(ir, locs, { minify, file: `f${evil}` });
      const plan = loadPlan(source);
      assert.equal(pwned(), undefined, `injected with ${JSON.stringify(evil)}`);
      const at = (host: string, path: string) => plan.routes[plan.route(0, host, path)];
      // Each hostile value still routes as written.
      assert.equal(at(`a${evil}`.toLowerCase(), `/=${evil}`).location, '/servers/0/locations/0');
      assert.equal(at(`a${evil}`.toLowerCase(), `/p${evil}/x`).location, '/servers/0/locations/1/locations/0');
      assert.equal(at(`a${evil}`.toLowerCase(), `/p${evil}/y${evil}`).location, '/servers/0/locations/1/locations/1');
      assert.equal(at(`a${evil}`.toLowerCase(), `/n${evil}`).location, '/servers/0/locations/2');
      assert.equal(at(`a${evil}`.toLowerCase(), `/r${evil}`).location, '/servers/0/locations/3');
      assert.equal(at(`a${evil}`.toLowerCase(), `/I${evil}`.replace('/I', '/i')).location, '/servers/0/locations/4');
      assert.equal(at('other', '/').server, 1);
      assert.equal(at(`x.${evil}`.toLowerCase(), '/').server, 0);
      assert.equal(at(`${evil}.x`.toLowerCase(), '/').server, 0);
      assert.equal(at(`${evil}z`.toLowerCase(), '/').server, 0);
      // Data comes back exactly.
      assert.deepEqual(plan.routes[1].settings.setHeaders, settings.setHeaders);
      assert.deepEqual(plan.routes[1].proxyPass, { scheme: 'http', upstream: evil, uri: evil });
      assert.equal(plan.upstreams[0].name, evil);
      assert.equal(plan.routes[0].source?.file, `conf${evil}.lbconf`);
      assert.ok(Object.isFrozen(plan.routes[1].settings.setHeaders[0]));
    }
  }
});

test('hostile strings written in a .lbconf file cannot inject code either', () => {
  const text = [
    'upstream app { server 127.0.0.1:8080; }',
    'server {',
    '    listen 80;',
    '    server_name a.example "~^x`${globalThis.pwned=1}`\\.example$";',
    // (No newline here: a header value cannot hold one, and check says so. The location path below has one.)
    '    proxy_set_header X-Evil "\\"; globalThis.pwned = 1; //*/ `\\${globalThis.pwned=1}` \u2028 </script>";',
    '    location = "/a\\"b\'c`${globalThis.pwned=1}`*/\\n" { proxy_pass http://app; }',
    '    location ~ "\\"\\);globalThis.pwned=1;//" { return 200 "`\\${globalThis.pwned = 1}`"; }',
    '    location / { proxy_pass http://app; }',
    '}',
  ].join('\n');
  const check = checkText(text, 'evil.lbconf');
  assert.deepEqual(check.diagnostics.filter((d) => d.severity === 'error'), []);
  const { plan, source } = compilePlan(check);
  assert.equal(pwned(), undefined);
  assert.match(source, /X-Evil/);
  const exact = '/a"b\'c`${globalThis.pwned=1}`*/\n';
  assert.equal(plan.routes[plan.route(0, 'a.example', exact)].text, `location = ${exact}`);
  assert.equal(plan.routes[plan.route(0, 'a.example', '/x");globalThis.pwned=1;//')].kind, 'return');
  assert.equal(plan.routes[plan.route(0, 'a.example', '/')].settings.setHeaders[0].value[0], '"; globalThis.pwned = 1; //*/ `${globalThis.pwned=1}` \u2028 </script>');
  assert.equal(pwned(), undefined);
});

test('a load failure throws with the generated source in the message', () => {
  assert.throws(() => loadPlan('return {;'), (err: Error) => err.message.includes('failed to load') && err.message.includes('return {;'));
  assert.throws(() => loadPlan('throw new Error("boom")'), (err: Error) => err.message.includes('boom') && err.message.includes('--- generated source ---'));
});
