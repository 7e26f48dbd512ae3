import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lower } from '../../compiler/lower.ts';
import { parseConfig } from '../../lang/parse.ts';
import { check, clean, codes, diags, inLocation, only, withUpstream } from './helpers.ts';

describe('lowering: directive names and contexts', () => {
  it('reports an unknown directive at its name, with the closest known name', () => {
    assert.deepEqual(only(inLocation('proxy_pas http://app;')), {
      at: '3:9-3:18', code: 'unknown-directive', severity: 'error', message: 'unknown directive `proxy_pas`', hint: 'did you mean `proxy_pass`?',
    });
    assert.equal(only('server { listen 80; lisen 81; location / { return 204; } }').hint, 'did you mean `listen`?');
    assert.equal(only(withUpstream('    server 10.0.0.1;\n    leastconn;')).hint, 'did you mean `least_conn`?');
  });

  it('gives no suggestion when no name is close', () => {
    assert.equal(only('frobnicate_widgets 5;').hint, 'see spec/directives.md for the directives lbconf knows');
  });

  it('names nginx directives lbconf leaves out, with what to do instead', () => {
    const d = only('events { worker_connections 1024; }');
    assert.deepEqual([d.at, d.code, d.message], ['1:1-1:7', 'unsupported-directive', '`events` is an nginx directive that lbconf does not have']);
    assert.equal(only('if ($host) { return 404; }').hint, 'lbconf has no `if`: route with `location` blocks instead');
  });

  it('checks what is inside an http block as if it were at the top level', () => {
    const result = check('http {\n    upstream app { server 10.0.0.1; }\n    server {\n        listen 80;\n        location / { proxy_pass http://app; }\n        lisen 81;\n    }\n}\n');
    assert.deepEqual(result.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column} ${d.code}`), ['1:1 unsupported-directive', '6:9 unknown-directive']);
    assert.equal(result.ir.servers.length, 1);
    assert.equal(result.ir.upstreams[0].name, 'app');
  });

  it('reports a directive in the wrong context, naming where it belongs', () => {
    assert.deepEqual(only('listen 80;'), { at: '1:1-1:7', code: 'wrong-context', severity: 'error', message: '`listen` is not allowed in the top level', hint: 'it belongs in `server`' });
    assert.equal(only('server { location / { return 204; } upstream u { server 1.2.3.4; } }').hint, 'it belongs in the top level');
    assert.equal(only(inLocation('return 204; allow_x;')).code, 'unknown-directive');
    assert.equal(only('server { location / { return 204; server_name a; } }').message, '`server_name` is not allowed in `location`');
  });

  it('tells the two `server` directives apart by context', () => {
    const ir = clean('upstream app { server 10.0.0.1:81; }\nserver { location / { proxy_pass http://app; } }');
    assert.equal(ir.servers.length, 1);
    assert.equal(ir.upstreams[0].servers[0].address, '10.0.0.1:81');
    assert.equal(only('server { server 10.0.0.1; location / { return 204; } }').message, '`server` is not allowed in `server`');
  });

  it('reports a second single-valued directive in a block, naming the first line', () => {
    assert.deepEqual(only(inLocation('return 204;\n        return 404;')), {
      at: '4:9-4:15', code: 'duplicate-directive', severity: 'error', message: '`return` is already set in this block (line 3)', hint: 'remove one of them',
    });
  });

  it('allows single-valued directives once per block, at every level', () => {
    clean('proxy_read_timeout 1s;\nserver { proxy_read_timeout 2s; location / { proxy_read_timeout 3s; return 204; location /a { proxy_read_timeout 4s; return 204; } } }');
  });

  it('reports a block directive without a block, and a simple one with a block', () => {
    assert.deepEqual(only('upstream app;'), { at: '1:1-1:14', code: 'missing-block', severity: 'error', message: '`upstream` needs a block `{ ... }`', hint: 'write `upstream NAME { ... }`' });
    const d = only(inLocation('return 204 { }'));
    assert.deepEqual([d.at, d.code, d.message, d.hint], ['3:9-3:23', 'unexpected-block', '`return` does not take a block', 'write `return [CODE] [TEXT];`']);
  });
});

describe('lowering: a forgotten `;` at the end of a line', () => {
  it('splits where the next line starts with a directive name, and reports at the end of the line', () => {
    const source = 'server {\n    listen 80\n    server_name example.com;\n    location / { return 204; }\n}\n';
    const result = check(source);
    assert.deepEqual(diags(source), ['2:14-2:14 error missing-semicolon']);
    assert.equal(result.diagnostics[0].message, 'missing `;` after `listen 80`');
    assert.deepEqual(result.ir.servers[0].listen.map((l) => l.port), [80]);
    assert.deepEqual(result.ir.servers[0].serverNames, ['example.com']);
  });

  it('splits repeatedly, and hands a block to the last directive', () => {
    const source = 'server {\n    listen 80\n    listen 81\n    location /\n    {\n        return 204;\n    }\n}\n';
    assert.deepEqual(diags(source), ['2:14-2:14 error missing-semicolon', '3:14-3:14 error missing-semicolon']);
    const ir = check(source).ir;
    assert.deepEqual(ir.servers[0].listen.map((l) => l.port), [80, 81]);
    assert.equal(ir.servers[0].locations[0].return?.status, 204);
  });

  it('does not split arguments that continue on the next line', () => {
    const ir = clean('server {\n    server_name a.example.com\n                b.example.com;\n    location / { return 204; }\n}\n');
    assert.deepEqual(ir.servers[0].serverNames, ['a.example.com', 'b.example.com']);
  });

  it('does not split at a quoted argument that happens to be a directive name', () => {
    const ir = clean(inLocation('return 200\n            "listen";'));
    assert.deepEqual(ir.servers[0].locations[0].return, { status: 200, text: ['listen'] });
  });
});

describe('lowering: arguments', () => {
  it('reports a missing argument just after the last one, with the syntax line', () => {
    assert.deepEqual(only(withUpstream('    server;')), {
      at: '2:11-2:11', code: 'missing-argument', severity: 'error', message: '`server` needs ADDRESS',
      hint: 'write `server ADDRESS [weight=number] [max_fails=number] [fail_timeout=duration] [max_conns=number] [slow_start=duration] [backup] [down];`',
    });
    assert.equal(only('server { location { return 204; } }').at, '1:18-1:18');
    assert.equal(only('server { location { return 204; } }').message, '`location` needs PATH');
  });

  it('reports extra arguments from the first to the last, and still reads the directive', () => {
    const source = 'server {\n    listen 80 81 82;\n    location / { return 204; }\n}';
    const d = only(source);
    assert.deepEqual([d.at, d.code, d.message], ['2:15-2:20', 'too-many-arguments', '`listen` does not take `81` here']);
    assert.deepEqual(check(source).ir.servers[0].listen.map((l) => l.port), [80]);
  });

  it('suggests the closest flag for a misspelt one', () => {
    assert.equal(only(withUpstream('    server 10.0.0.1 bakup;')).hint, 'did you mean `backup`?');
    assert.equal(only('server { listen 443 defaultserver; location / { return 204; } }').hint, 'did you mean `default_server`?');
  });

  it('reports a bad argument at that argument, for each type', () => {
    const cases: [string, string, RegExp][] = [
      [inLocation('proxy_read_timeout 10q; return 204;'), '3:28-3:31', /`10q` is not a duration/],
      [inLocation('proxy_next_upstream_tries x; return 204;'), '3:35-3:36', /`x` is not a whole number/],
      [inLocation('allow 10.0.0.0/99; return 204;'), '3:15-3:26', /`\/99` is not a valid prefix length/],
      [inLocation('proxy_set_header X-A $nope; return 204;'), '3:30-3:35', /unknown variable `\$nope`/],
      [inLocation('proxy_set_header "A B" 1; return 204;'), '3:26-3:31', /`A B` is not a valid header name/],
      [inLocation('proxy_pass ftp://app;'), '3:20-3:29', /is not a proxy URL/],
      [inLocation('proxy_pass http://$host;'), '3:20-3:32', /`\$host` is not a valid host name/],
      [inLocation('proxy_next_upstream error nope; return 204;'), '3:35-3:39', /not `nope`/],
      ['server { listen 0; location / { return 204; } }', '1:17-1:18', /port 0 is out of range/],
      ['server { server_name bad!; location / { return 204; } }', '1:22-1:26', /not a valid server name/],
      [withUpstream('    server 10.0.0.1:99999;'), '2:12-2:26', /port 99999 is out of range/],
      ['upstream 9lives { server 10.0.0.1; }', '1:10-1:16', /`9lives` is not a valid name/],
    ];
    for (const [source, at, message] of cases) {
      const d = only(source);
      assert.deepEqual([d.at, d.code], [at, 'bad-argument'], source);
      assert.match(d.message, message, source);
    }
  });

  it('reports a bad optional argument when the ones after it cannot take it', () => {
    const d = only('server { location ~~ /x { return 204; } }');
    assert.deepEqual([d.at, d.code, d.message], ['1:19-1:21', 'bad-argument', 'expected one of `=`, `^~`, `~`, `~*`, not `~~`']);
    const r = only(inLocation('return abc def;'));
    assert.deepEqual([r.at, r.code, r.message], ['3:16-3:19', 'bad-argument', '`abc` is not an HTTP status code (100 to 599)']);
    assert.equal(only(inLocation('return 999;')).message, '`999` is not an HTTP status code (100 to 599)');
  });

  it('reads key=value parameters with their type, in any order, after the positionals', () => {
    const ir = clean(withUpstream('    server 10.0.0.1:8080 backup fail_timeout=1m weight=5 max_fails=0 slow_start=30s max_conns=7;\n    server 10.0.0.2;'));
    assert.deepEqual(ir.upstreams[0].servers[0], {
      address: '10.0.0.1:8080', host: '10.0.0.1', port: 8080, weight: 5, maxFails: 0, failTimeout: 60_000, maxConns: 7, slowStart: 30_000, backup: true, down: false,
    });
  });

  it('reports an unknown parameter with the closest one, or the list', () => {
    assert.deepEqual(only(withUpstream('    server 10.0.0.1 wieght=2;')), {
      at: '2:21-2:29', code: 'unknown-parameter', severity: 'error', message: '`server` has no parameter `wieght=`', hint: 'did you mean `weight`?',
    });
    assert.equal(only(withUpstream('    server 10.0.0.1;\n    least_busy zzz=1;')).hint, 'it takes `decay=`');
  });

  it('reports a parameter given twice at the second, and keeps the first', () => {
    const source = withUpstream('    server 10.0.0.1 weight=2 weight=3;');
    assert.deepEqual(only(source), { at: '2:30-2:38', code: 'duplicate-argument', severity: 'error', message: '`weight=` is given twice', hint: 'keep one' });
    assert.equal(check(source).ir.upstreams[0].servers[0].weight, 2);
  });

  it('reports a bad parameter value with its key, and still reads the directive', () => {
    const source = withUpstream('    server 10.0.0.1 fail_timeout=soon weight=0;');
    assert.deepEqual(diags(source), ['2:21-2:38 error bad-argument', '2:39-2:47 error invalid-value']);
    assert.match(check(source).diagnostics[0].message, /^`fail_timeout`: `soon` is not a duration/);
  });

  it('types an argument the same whether or not it is quoted', () => {
    const a = clean(inLocation('proxy_read_timeout "1m30s"; return 204;'));
    const b = clean(inLocation("proxy_read_timeout '1m30s'; return 204;"));
    assert.equal(a.servers[0].locations[0].settings.readTimeout, 90_000);
    assert.deepEqual(a, b);
  });

  it('does not read a quoted key=value as a parameter', () => {
    assert.equal(only(withUpstream('    server 10.0.0.1 "weight=2";')).code, 'too-many-arguments');
  });
});

describe('lowering: the IR of each directive', () => {
  it('listen and server_name', () => {
    const certs = new URL('../../spec/tests/certs', import.meta.url).pathname;
    const ir = clean(`server {\n    listen 80 default_server;\n    listen [::]:8443 ssl;\n    listen 127.0.0.1:81;\n    server_name Example.com *.example.com;\n    server_name www.example.*;\n    ssl_certificate ${certs}/example.com.pem;\n    ssl_certificate_key ${certs}/example.com.key;\n    location / { return 204; }\n}`);
    assert.deepEqual(ir.servers[0].listen, [
      { address: '*', port: 80, defaultServer: true, ssl: false },
      { address: '::', port: 8443, defaultServer: false, ssl: true },
      { address: '127.0.0.1', port: 81, defaultServer: false, ssl: false },
    ]);
    assert.deepEqual(ir.servers[0].serverNames, ['example.com', '*.example.com', 'www.example.*']);
    assert.deepEqual(ir.servers[0].tls?.certificates, [{ cert: `${certs}/example.com.pem`, key: `${certs}/example.com.key` }]);
    assert.deepEqual(ir.servers[0].tls?.protocols, ['TLSv1.2', 'TLSv1.3']);
  });

  it('a server with no listen listens on *:80, and one with no name has the name ""', () => {
    const ir = clean('server { location / { return 204; } }');
    assert.deepEqual(ir.servers[0].listen, [{ address: '*', port: 80, defaultServer: false, ssl: false }]);
    assert.deepEqual(ir.servers[0].serverNames, ['']);
  });

  it('location modifiers, glued or not, and nesting', () => {
    const ir = clean('server {\n    location = /a { return 204; }\n    location =/b { return 204; }\n    location ^~ /c { return 204; }\n    location ~ \\.x$ { return 204; }\n    location ~* \\.Y$ { return 204; }\n    location /d { location /d/e { return 204; } }\n}');
    const [a, b, c, d, e, f] = ir.servers[0].locations;
    assert.deepEqual([a, b, c, d, e, f].map((l) => [l.match, l.path]), [['exact', '/a'], ['exact', '/b'], ['prefix-no-regex', '/c'], ['regex', '\\.x$'], ['regex-nocase', '\\.Y$'], ['prefix', '/d']]);
    assert.deepEqual(f.locations.map((l) => [l.match, l.path]), [['prefix', '/d/e']]);
  });

  it('return: a status, a status and text, a redirect, and a lone URL as a 302', () => {
    const ir = clean('server {\n    location /a { return 404; }\n    location /b { return 200 "hi $host"; }\n    location /c { return 301 https://$host$request_uri; }\n    location /d { return /elsewhere; }\n    location /e { return $scheme://x; }\n}');
    assert.deepEqual(ir.servers[0].locations.map((l) => l.return), [
      { status: 404, text: null },
      { status: 200, text: ['hi ', { var: 'host' }] },
      { status: 301, text: ['https://', { var: 'host' }, { var: 'request_uri' }] },
      { status: 302, text: ['/elsewhere'] },
      { status: 302, text: [{ var: 'scheme' }, '://x'] },
    ]);
  });

  it('return: the mistakes nginx refuses too', () => {
    assert.equal(only(inLocation('return;')).message, '`return` needs a status code or a URL');
    assert.equal(only(inLocation('return 302;')).message, '`return 302` needs the URL to redirect to');
    assert.equal(only(inLocation('return hello;')).message, '`return` with one argument takes a URL (it answers 302)');
  });

  it('proxy_pass to an upstream, and to an address through an implicit upstream', () => {
    const ir = clean('upstream app { server 10.0.0.1; }\nserver {\n    location /a { proxy_pass http://app; }\n    location /b { proxy_pass https://app/v2/; }\n    location /c { proxy_pass http://10.0.0.9:8080/x; }\n    location /d { proxy_pass https://[::1]; }\n    location /e { proxy_pass http://10.0.0.9:8080; }\n}');
    assert.deepEqual(ir.servers[0].locations.map((l) => l.proxyPass), [
      { scheme: 'http', upstream: 'app', uri: null },
      { scheme: 'https', upstream: 'app', uri: '/v2/' },
      { scheme: 'http', upstream: '10.0.0.9:8080', uri: '/x' },
      { scheme: 'https', upstream: '[::1]:443', uri: null },
      { scheme: 'http', upstream: '10.0.0.9:8080', uri: null },
    ]);
    assert.deepEqual(ir.upstreams.map((u) => [u.name, u.implicit, u.servers.map((s) => s.address)]), [
      ['app', false, ['10.0.0.1:80']], ['10.0.0.9:8080', true, ['10.0.0.9:8080']], ['[::1]:443', true, ['[::1]:443']],
    ]);
  });

  it('balancing methods', () => {
    const method = (line: string) => clean(withUpstream(`    ${line}\n    server 10.0.0.1;`)).upstreams[0].method;
    assert.deepEqual(method('least_conn;'), { kind: 'least_conn' });
    assert.deepEqual(method('ip_hash;'), { kind: 'ip_hash' });
    assert.deepEqual(method('hash $arg_id;'), { kind: 'hash', key: [{ var: 'arg_id' }], consistent: false, balanceFactor: null });
    assert.deepEqual(method('hash "$host$uri" consistent balance_factor=1.5;'), { kind: 'hash', key: [{ var: 'host' }, { var: 'uri' }], consistent: true, balanceFactor: 1.5 });
    assert.deepEqual(method('random;'), { kind: 'random', two: false });
    assert.deepEqual(method('random two;'), { kind: 'random', two: true });
    assert.deepEqual(method('least_busy;'), { kind: 'least_busy', decay: 10_000 });
    assert.deepEqual(method('least_busy decay=1m;'), { kind: 'least_busy', decay: 60_000 });
    assert.deepEqual(clean(withUpstream('    server 10.0.0.1;')).upstreams[0].method, { kind: 'round_robin' });
  });

  it('a second balancing method is a conflict, reported at it', () => {
    const d = only(withUpstream('    least_conn;\n    random;\n    server 10.0.0.1;'));
    assert.deepEqual([d.at, d.code, d.message], ['3:5-3:12', 'conflicting-balancer', 'upstream `app` already has a balancing method (line 2); `random` would replace it']);
  });

  it('keepalive, sticky and health_check', () => {
    const u = clean(withUpstream('    server 10.0.0.1;\n    keepalive 8;\n    keepalive_timeout 5s;\n    sticky cookie srv secret=0123456789abcdef expires=2h domain=example.com samesite=strict httponly;\n    health_check uri=/hz interval=1s timeout=300ms passes=1 fails=5 jitter=50ms status=200,300-302 body=ok initial=unhealthy method=HEAD;')).upstreams[0];
    assert.equal(u.keepalive, 8);
    assert.equal(u.keepaliveTimeout, 5000);
    assert.deepEqual(u.sticky, { cookie: 'srv', secret: '0123456789abcdef', maxAge: 7_200_000, path: '/', domain: 'example.com', httpOnly: true, secure: false, sameSite: 'strict' });
    assert.deepEqual(u.healthCheck, { method: 'HEAD', uri: '/hz', interval: 1000, timeout: 300, rise: 1, fall: 5, jitter: 50, status: [[200, 200], [300, 302]], body: 'ok', initial: 'unhealthy' });
  });

  it('proxy_set_header keeps order and reads templates; an empty value is kept', () => {
    const l = clean(inLocation('proxy_set_header X-A $remote_addr;\n        proxy_set_header X-B "";\n        proxy_set_header Host $proxy_host;\n        return 204;')).servers[0].locations[0];
    assert.deepEqual(l.settings.setHeaders, [{ name: 'X-A', value: [{ var: 'remote_addr' }] }, { name: 'X-B', value: [] }, { name: 'Host', value: [{ var: 'proxy_host' }] }]);
  });

  it('proxy_next_upstream: conditions, off, and off mixed with others', () => {
    assert.deepEqual(clean(inLocation('proxy_next_upstream error http_502 non_idempotent; return 204;')).servers[0].locations[0].settings.nextUpstream, ['error', 'http_502', 'non_idempotent']);
    assert.deepEqual(clean(inLocation('proxy_next_upstream off; return 204;')).servers[0].locations[0].settings.nextUpstream, []);
    const d = only(inLocation('proxy_next_upstream off error; return 204;'));
    assert.deepEqual([d.at, d.code, d.message], ['3:9-3:39', 'bad-argument', '`off` cannot be combined with other conditions']);
  });

  it('allow and deny keep their order and normalise addresses to CIDR', () => {
    const l = clean(inLocation('allow 10.0.0.1; allow 10.0.0.0/8; deny ::1; deny all; return 204;')).servers[0].locations[0];
    assert.deepEqual(l.settings.access, [
      { action: 'allow', source: '10.0.0.1/32' }, { action: 'allow', source: '10.0.0.0/8' }, { action: 'deny', source: '::1/128' }, { action: 'deny', source: 'all' },
    ]);
  });

  it('a location path must start with `/` unless it is a regex', () => {
    const d = only('server { location api { return 204; } }');
    assert.deepEqual([d.at, d.code, d.message, d.hint], ['1:19-1:22', 'bad-location-path', 'location path `api` must start with `/`', 'write `/api`']);
    assert.equal(only('server { location @named { return 204; } }').hint, 'named locations are not supported');
  });
});

describe('lowering: one mistake, one diagnostic', () => {
  it('does not call an upstream empty when its only server line was wrong', () => {
    assert.deepEqual(codes(withUpstream('    server http://10.0.0.1;')), ['bad-argument']);
    assert.deepEqual(codes(withUpstream('    server 10.0.0.1 bakup;')), ['too-many-arguments']);
    assert.deepEqual(codes(withUpstream('    server;')), ['missing-argument']);
    assert.deepEqual(codes(withUpstream('    sever 10.0.0.1;')), ['unknown-directive']);
  });

  it('does not call a location handler-less when its handler was in error', () => {
    assert.deepEqual(codes('upstream app { server 10.0.0.1; }\n' + inLocation('proxy_pas http://app;')), ['unknown-directive']);
    assert.deepEqual(codes(inLocation('return ok;')), ['bad-argument']);
    assert.deepEqual(codes(inLocation('proxy_pass http://$host;')), ['bad-argument']);
    assert.deepEqual(codes(inLocation('return 204 { }')), ['unexpected-block']);
  });

  it('still calls a location handler-less when the error was elsewhere', () => {
    assert.deepEqual(codes('server {\n    location /a { proxy_read_timeout 5s; }\n    location /b { return ok; }\n}'), ['no-handler', 'bad-argument']);
  });

  it('does not report an upstream whose name was wrong as unused, empty or duplicate', () => {
    assert.deepEqual(codes('upstream "bad name" { server 10.0.0.1; }\nupstream { server 10.0.0.2; }'), ['bad-argument', 'missing-argument']);
  });

  it('still checks inside a block directive whose arguments were wrong', () => {
    assert.deepEqual(codes('upstream 9x { server 10.0.0.1 weight=0; }'), ['bad-argument', 'invalid-value']);
    assert.deepEqual(codes('server { location ~~ /x { lisen 1; } }'), ['bad-argument', 'unknown-directive']);
  });

  it('does not report the upstream a misspelt proxy_pass meant as unused', () => {
    assert.deepEqual(codes('upstream app { server 10.0.0.1; }\n' + inLocation('proxy_pass htp://app;')), ['bad-argument']);
  });
});

describe('lowering: the pointer → span map', () => {
  it('records where values came from', () => {
    const { config } = parseConfig('upstream app {\n    server 10.0.0.1 weight=3;\n}\nserver {\n    listen 8080;\n    location /x { proxy_pass http://app; }\n}\n', 't');
    const { locs } = lower(config.directives);
    const at = (p: string) => {
      const ref = locs.get(p);
      assert.ok(ref, p);
      return `${ref.span.start.line}:${ref.span.start.column}-${ref.span.end.line}:${ref.span.end.column} ${ref.label}`;
    };
    assert.equal(at('/upstreams/0/name'), '1:10-1:13 the upstream name');
    assert.equal(at('/upstreams/0/servers/0/weight'), '2:21-2:29 `weight`');
    assert.equal(at('/servers/0/listen/0/port'), '5:12-5:16 the port');
    assert.equal(at('/servers/0/locations/0/path'), '6:14-6:16 the location');
    assert.equal(at('/servers/0/locations/0/proxyPass/upstream'), '6:30-6:40 `proxy_pass`');
  });
});
