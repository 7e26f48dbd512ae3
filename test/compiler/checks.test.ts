import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closest, didYouMean } from '../../compiler/suggest.ts';
import { check, clean, codes, diags, only, withUpstream } from './helpers.ts';

// A certificate on disk that covers example.com and *.example.com, for servers that listen with ssl.
const CERTS = new URL('../../spec/tests/certs', import.meta.url).pathname;
const TLS = `ssl_certificate ${CERTS}/example.com.pem;\nssl_certificate_key ${CERTS}/example.com.key;\n`;

// The semantic checks (compiler/checks/*), each with the exact code, severity and span.

/** A server on port 80 holding the given locations (on line 4), with an upstream `app` when they use it. */
function server(body: string): string {
  const first = body.includes('http://app') ? 'upstream app { server 10.0.0.1; }' : '# no upstream';
  return `${first}\nserver {\n    listen 80;\n${body}\n}\n`;
}

describe('check: references', () => {
  it('reports a proxy_pass to an undefined upstream, with the closest name', () => {
    const d = only('upstream app { server 10.0.0.1; }\nserver {\n    location / { proxy_pass http://ap; }\n}');
    assert.deepEqual(d, { at: '3:29-3:38', code: 'unknown-upstream', severity: 'error', message: '`proxy_pass` names upstream `ap`, which is not defined', hint: 'did you mean `app`?' });
  });

  it('suggests defining the upstream, or writing an address with a port, when no name is close', () => {
    const d = only(server('    location / { proxy_pass http://app; }\n    location /x { proxy_pass http://backend.internal; }'));
    assert.equal(d.hint, 'define `upstream backend.internal { server host:port; }`, or write an address with its port, as in http://backend.internal:8080');
  });

  it('finds upstreams defined after their use', () => {
    clean('server { location / { proxy_pass http://later; } }\nupstream later { server 10.0.0.1; }');
  });

  it('reports a duplicate upstream at the second name', () => {
    assert.deepEqual(diags('upstream app { server 10.0.0.1; }\nupstream app { server 10.0.0.2; }\nserver { location / { proxy_pass http://app; } }'), ['2:10-2:13 error duplicate-upstream']);
  });

  it('reports a server listed twice in one upstream, port 80 implied', () => {
    const d = only(withUpstream('    server 10.0.0.1;\n    server 10.0.0.1:80 weight=2;'));
    assert.deepEqual([d.at, d.code, d.message], ['3:12-3:23', 'duplicate-server', 'server 10.0.0.1:80 is already in upstream `app` (line 2)']);
  });

  it('allows the same server in two upstreams', () => {
    clean('upstream a { server 10.0.0.1; }\nupstream b { server 10.0.0.1; }\nserver { location /a { proxy_pass http://a; } location /b { proxy_pass http://b; } }');
  });

  it('warns of an upstream no proxy_pass uses, at its name', () => {
    const d = only('upstream spare { server 10.0.0.1; }\nserver { location / { return 204; } }');
    assert.deepEqual([d.at, d.code, d.severity], ['1:10-1:15', 'unused-upstream', 'warning']);
  });

  it('does not warn of an upstream whose only use is misspelt', () => {
    assert.deepEqual(codes('upstream app { server 10.0.0.1; }\nserver { location / { proxy_pass http://apq; } }'), ['unknown-upstream']);
  });

  it('does not warn of an upstream a directive in error names, but does when the error is unrelated', () => {
    assert.deepEqual(codes('upstream app { server 10.0.0.1; }\nserver { location / { proxy_pas http://app; } }'), ['unknown-directive']);
    assert.deepEqual(codes('upstream app { server 10.0.0.1; }\nserver { listen 80 81; location / { return 204; } }'), ['unused-upstream', 'too-many-arguments']);
  });

  it('does not count an implicit upstream as unused or duplicate', () => {
    clean('server { location /a { proxy_pass http://10.0.0.1:80; } location /b { proxy_pass http://10.0.0.1:80; } }');
  });
});

describe('check: listeners', () => {
  it('reports a server listening twice on one address', () => {
    assert.deepEqual(diags('server { listen 80; listen *:80; location / { return 204; } }'), ['1:21-1:33 error duplicate-listen']);
  });

  it('reports plain and TLS on the same port across servers, at the later one', () => {
    const d = only(`${TLS}server { listen 443 ssl; server_name a.example.com; location / { return 204; } }\nserver { listen 443; server_name b.example.com; location / { return 204; } }`);
    assert.deepEqual([d.at, d.code, d.message], ['4:10-4:21', 'conflicting-listener', '*:443 is plain HTTP here but TLS at line 3']);
  });

  it('keeps different addresses on one port apart', () => {
    clean(`${TLS}server { listen 127.0.0.1:80 ssl; location / { return 204; } }\nserver { listen 127.0.0.2:80; location / { return 204; } }`);
  });

  it('reports two default servers on one address', () => {
    const d = only('server { listen 80 default_server; server_name a; location / { return 204; } }\nserver { listen 80 default_server; server_name b; location / { return 204; } }');
    assert.deepEqual([d.at, d.code, d.message], ['2:10-2:35', 'duplicate-default-server', '*:80 already has a default server (line 1)']);
  });

  it('warns of a server name served twice on one address, at the later name', () => {
    const d = only('server { server_name a.com b.com; location / { return 204; } }\nserver { server_name B.com; location / { return 204; } }');
    assert.deepEqual([d.at, d.code, d.severity, d.message], ['2:22-2:27', 'duplicate-server-name', 'warning', 'server name `b.com` on *:80 is already served by the server block at line 1; this one will never see it']);
  });

  it('warns of two servers without a name on one address, at the later server', () => {
    const d = only('server { location / { return 204; } }\nserver { location / { return 204; } }');
    assert.deepEqual([d.at, d.code, d.message], ['2:1-2:7', 'duplicate-server-name', 'server name "" (no `server_name`) on *:80 is already served by the server block at line 1; this one will never see it']);
  });

  it('allows one name on different ports', () => {
    clean('server { listen 80; server_name a; location / { return 204; } }\nserver { listen 81; server_name a; location / { return 204; } }');
  });
});

describe('check: locations', () => {
  it('reports a location nested in an exact one', () => {
    assert.deepEqual(diags(server('    location = /a { location /a/b { return 204; } return 204; }')), ['4:21-4:50 error location-in-exact']);
  });

  it('reports a nested prefix outside its parent, at its path', () => {
    const d = only(server('    location /a/ { location /b/ { return 204; } return 204; }'));
    assert.deepEqual([d.at, d.code, d.message, d.hint], ['4:29-4:32', 'location-outside-parent', '`location /b/` is outside its parent `location /a/`: a request can never reach it', 'start the path with /a/']);
  });

  it('reports a prefix nested in a regex, and allows a regex nested anywhere', () => {
    assert.deepEqual(diags(server('    location ~ x { location /a { return 204; } return 204; }')), ['4:20-4:47 error location-outside-parent']);
    clean(server('    location ~ x { location ~ y { return 204; } return 204; }\n    location /p/ { location ~ z { return 204; } location = /p/q { return 204; } return 204; }'));
  });

  it('reports a duplicate prefix or exact location, `^~` or not', () => {
    assert.deepEqual(diags(server('    location /a { return 204; }\n    location ^~ /a { return 204; }\n    location = /a { return 204; }\n    location = /a { return 204; }')), [
      '5:5-5:35 error duplicate-location', '7:5-7:34 error duplicate-location',
    ]);
  });

  it('allows the same path as a prefix and an exact location, and in different parents', () => {
    clean(server('    location /a/ { return 204; }\n    location = /a/ { return 204; }\n    location /b/ { location /b/a/ { return 204; } return 204; }\n    location /c/ { location /c/a/ { return 204; } return 204; }'));
  });

  it('warns of a repeated regex', () => {
    assert.deepEqual(diags(server('    location ~ x { return 204; }\n    location ~ x { return 204; }\n    location ~* x { return 204; }')), ['5:5-5:33 warning unreachable-location']);
  });

  it('warns of a regex after one that matches every path', () => {
    for (const everything of ['.*', '^/', '^', '/', '.', '^.*', '^/.*$']) {
      const result = check(server(`    location ~ "${everything}" { return 204; }\n    location ~ \\.png$ { return 204; }`));
      assert.deepEqual(result.diagnostics.map((d) => `${d.span.start.line} ${d.code}`), ['5 unreachable-location'], everything);
    }
  });

  it('warns of a plain prefix beside a regex that matches every path, suggesting ^~', () => {
    const result = check(server('    location ~ .* { return 204; }\n    location /docs/ { return 204; }\n    location ^~ /img/ { return 204; }\n    location = /x { return 204; }'));
    assert.deepEqual(result.diagnostics.map((d) => `${d.span.start.line} ${d.code} ${d.hint}`), ['5 unreachable-location write `location ^~ /docs/` to make the prefix win']);
  });

  it('warns of an anchored regex shadowed by a shorter one tried first', () => {
    assert.deepEqual(diags(server('    location ~ ^/img { return 204; }\n    location ~ ^/img/x { return 204; }')), ['5:5-5:39 warning unreachable-location']);
    // Not when the longer one comes first, nor when they differ.
    clean(server('    location ~ ^/img/x { return 204; }\n    location ~ ^/img { return 204; }\n    location ~ ^/doc { return 204; }'));
    // A case-insensitive regex can match what a case-sensitive one does not.
    clean(server('    location ~ ^/img { return 204; }\n    location ~* ^/img/x { return 204; }'));
  });

  it('warns of a regex under a ^~ prefix that stops the regex search', () => {
    const d = only(server('    location ^~ /static/ { return 204; }\n    location ~ ^/static/js { return 204; }'));
    assert.deepEqual([d.at, d.code, d.hint], ['5:5-5:43', 'unreachable-location', 'remove `^~` from line 4, or nest this regex inside that location']);
    // A longer plain prefix below the ^~ one wins for its paths, and the regex is searched again.
    clean(server('    location ^~ /static/ { return 204; }\n    location /static/js/ { return 204; }\n    location ~ ^/static/js { return 204; }'));
  });

  it('warns that the locations of a server answering with return are never used, at the first', () => {
    const d = only('server {\n    return 404;\n    location / { return 204; }\n    location /a { return 204; }\n}');
    assert.deepEqual([d.at, d.code], ['3:5-3:31', 'unreachable-location']);
  });

  it('warns of a location with both return and proxy_pass', () => {
    assert.deepEqual(diags(server('    location / { return 503; proxy_pass http://app; }')), ['4:5-4:54 warning return-and-proxy']);
  });

  it('warns of a location with no handler, unless it denies everyone or has nested locations', () => {
    assert.deepEqual(diags(server('    location / { proxy_pass http://app; }\n    location /x { proxy_read_timeout 1s; }')), ['5:5-5:43 warning no-handler']);
    clean(server('    location / { proxy_pass http://app; }\n    location ~ /\\.ht { deny all; }\n    location /n/ { location /n/a { return 204; } }'));
    // Allowing some first still leaves them a 404.
    assert.deepEqual(codes(server('    location / { proxy_pass http://app; }\n    location /x { allow 10.0.0.0/8; deny all; }')), ['no-handler']);
  });

  it('counts an inherited `deny all` as denying everyone', () => {
    clean('upstream app { server 10.0.0.1; }\nserver {\n    deny all;\n    location / { proxy_pass http://app; }\n    location /closed { }\n}');
  });
});

describe('check: regexes', () => {
  it('reports an invalid regex once, and does not reason about what it would match', () => {
    const d = only('server {\n    location ^~ /v1/ { return 204; }\n    location ~ ^/v1/(a|b)+)$ { return 204; }\n}');
    assert.equal(d.code, 'invalid-regex');
  });

  it('reports an invalid location regex at its pattern, with the engine\'s reason', () => {
    const d = only(server('    location ~ ^/(a { return 204; }'));
    assert.deepEqual([d.at, d.code, d.message, d.hint], ['4:16-4:20', 'invalid-regex', 'the location is not a valid regular expression: /^/(a/: Unterminated group', 'lbconf uses JavaScript regular expressions']);
  });

  it('compiles ~* regexes case-insensitively and server names with ~', () => {
    assert.deepEqual(diags(server('    location ~* "[z-a]" { return 204; }')), ['4:17-4:24 error invalid-regex']);
    const d = only('server { server_name "~^(?P<s>.+)$"; location / { return 204; } }');
    assert.deepEqual([d.at, d.code, d.hint], ['1:22-1:36', 'invalid-regex', 'named groups are written (?<name>...) in lbconf']);
  });

  it('checks the health check body regex', () => {
    assert.deepEqual(diags(withUpstream('    server 10.0.0.1;\n    health_check body=[;')), ['3:18-3:24 error invalid-regex']);
  });

  it('warns of a regex that can backtrack catastrophically', () => {
    const d = only(server('    location ~ ^/(a+)+$ { return 204; }'));
    assert.deepEqual([d.at, d.code, d.severity], ['4:16-4:24', 'regex-backtracking', 'warning']);
    clean(server('    location ~ ^/[a-z]+/[0-9]+$ { return 204; }'));
  });
});

describe('check: upstreams', () => {
  it('rejects backup servers with hash, ip_hash and random, at the server', () => {
    for (const method of ['ip_hash;', 'hash $host;', 'random two;']) {
      assert.deepEqual(diags(withUpstream(`    ${method}\n    server 10.0.0.1;\n    server 10.0.0.2 backup;`)), ['4:5-4:28 error backup-with-hash'], method);
    }
    clean(withUpstream('    least_conn;\n    server 10.0.0.1;\n    server 10.0.0.2 backup;'));
    clean(withUpstream('    least_busy;\n    server 10.0.0.1;\n    server 10.0.0.2 backup;'));
  });

  it('warns of an upstream with every server down, or no primary', () => {
    assert.deepEqual(only(withUpstream('    server 10.0.0.1 down;')).message, 'every server of upstream `app` is marked `down`: requests to it will get 503');
    const d = only(withUpstream('    server 10.0.0.1 backup;\n    server 10.0.0.2 down;'));
    assert.deepEqual([d.at, d.code, d.severity], ['1:10-1:13', 'no-usable-server', 'warning']);
    clean(withUpstream('    server 10.0.0.1 down;\n    server 10.0.0.2;'));
  });
});

describe('did you mean', () => {
  it('suggests the closest candidate within a third of the word\'s length', () => {
    assert.equal(closest('proxy_pas', ['proxy_pass', 'proxy_set_header']), 'proxy_pass');
    assert.equal(closest('Listen', ['listen']), 'listen');
    assert.equal(closest('ab', ['ac']), 'ac');
    assert.equal(closest('abc', ['xyz']), undefined);
    assert.equal(closest('anything', []), undefined);
    assert.equal(didYouMean('upsteam', ['upstream', 'server']), 'did you mean `upstream`?');
    assert.equal(didYouMean('zzz', ['upstream']), undefined);
  });

  it('is used for directives, parameters, flags and upstream names', () => {
    assert.equal(only('upstrem app { server 10.0.0.1; }').hint, 'did you mean `upstream`?');
    assert.equal(only(withUpstream('    server 10.0.0.1 max_fail=1;')).hint, 'did you mean `max_fails`?');
    assert.equal(only(withUpstream('    server 10.0.0.1 dwn;')).hint, 'did you mean `down`?');
    assert.equal(only('upstream backend { server 10.0.0.1; }\nserver { location / { proxy_pass http://backedn; } }').hint, 'did you mean `backend`?');
  });
});

describe('checks run together', () => {
  it('reports mistakes of every stage in one run, sorted by position', () => {
    const source = [
      'upstream app { server 10.0.0.1 weight=0; ip_hash; server 10.0.0.2 backup; }', // 1
      'server {',                                                                    // 2
      '    listen 80',                                                               // 3
      '    listen 80;',                                                              // 4
      '    location / { proxy_pass http://apx; }',                                   // 5
      '    location ~ ( { return 204; }',                                            // 6
      '}',                                                                           // 7
    ].join('\n');
    assert.deepEqual(diags(source), [
      '1:32-1:40 error invalid-value',
      '1:51-1:74 error backup-with-hash',
      '3:14-3:14 error missing-semicolon',
      '4:5-4:15 error duplicate-listen',
      '5:29-5:39 error unknown-upstream',
      '6:16-6:17 error invalid-regex',
    ]);
  });
});
