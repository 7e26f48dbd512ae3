import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check, clean, only } from './helpers.ts';

// The compression directives (compiler/directives/compression.ts): what they
// lower to, how they inherit, and the diagnostics for mistakes, each at its
// file:line:col.

const settingsOf = (source: string, server = 0, location = 0) => clean(source).servers[server].locations[location].settings;

describe('compression directives', () => {
  it('defaults: off; nginx\'s gzip defaults, lbconf\'s order and levels, Vary on', () => {
    const s = settingsOf('server { listen 80; location / { return 204; } }');
    assert.deepEqual(
      [s.gzip, s.gzipTypes, s.gzipMinLength, s.gzipCompLevel, s.gzipProxied, s.gzipVary, s.compress, s.brotliCompLevel, s.zstdCompLevel],
      [false, ['text/html'], 20, 1, ['off'], true, ['zstd', 'br', 'gzip'], 4, 3],
    );
  });

  it('reads every directive, in quotes or not, with sizes and `*`', () => {
    const s = settingsOf(`server { listen 80; location / {
      gzip on; gzip_types "application/json" Text/CSS text/* *; gzip_min_length 1k; gzip_comp_level 6;
      gzip_proxied no-cache auth; gzip_vary off; compress br gzip; brotli_comp_level 11; zstd_comp_level 19;
      return 204; } }`);
    assert.deepEqual(
      [s.gzip, s.gzipTypes, s.gzipMinLength, s.gzipCompLevel, s.gzipProxied, s.gzipVary, s.compress, s.brotliCompLevel, s.zstdCompLevel],
      [true, ['*'], 1024, 6, ['no-cache', 'auth'], false, ['br', 'gzip'], 11, 19],
    );
    assert.deepEqual(settingsOf('server { listen 80; location / { gzip_types "application/json" Text/CSS text/*; return 204; } }').gzipTypes, ['application/json', 'text/css', 'text/*']);
  });

  it('inherits each directive on its own, top → server → location, as nginx does', () => {
    const ir = clean(`
gzip on;
compress gzip;
server {
    listen 80;
    gzip_comp_level 5;
    location / { gzip_types application/json; return 204; }
    location /off { gzip off; return 204; }
}
server {
    listen 81;
    compress zstd br;
    location / { return 204; }
}`);
    const [a, off] = ir.servers[0].locations.map((l) => l.settings);
    assert.deepEqual([a.gzip, a.compress, a.gzipCompLevel, a.gzipTypes], [true, ['gzip'], 5, ['application/json']]);
    assert.deepEqual([off.gzip, off.compress, off.gzipCompLevel], [false, ['gzip'], 5]);
    const b = ir.servers[1].locations[0].settings;
    assert.deepEqual([b.gzip, b.compress, b.gzipCompLevel], [true, ['zstd', 'br'], 1]);
  });

  it('a level out of range: invalid-value at the argument, with the range', () => {
    const source = 'server {\n    listen 80;\n    gzip_comp_level 10;\n    location / { return 204; }\n}\n';
    assert.deepEqual(only(source), { at: '3:21-3:23', code: 'invalid-value', severity: 'error', message: '`gzip_comp_level` must be at most 9 (got 10)' });
    assert.equal(only('brotli_comp_level 12;\nserver { listen 80; location / { return 204; } }').message, '`brotli_comp_level` must be at most 11 (got 12)');
    assert.equal(only('zstd_comp_level 0;\nserver { listen 80; location / { return 204; } }').message, '`zstd_comp_level` must be at least 1 (got 0)');
    assert.deepEqual(only('gzip_comp_level fast;\nserver { listen 80; location / { return 204; } }').at, '1:17-1:21');
  });

  it('an unknown encoding: bad-argument at that word, saying what is offered', () => {
    const d = only('server {\n    listen 80;\n    compress zstd deflate gzip;\n    location / { return 204; }\n}\n');
    assert.equal(d.at, '3:19-3:26');
    assert.equal(d.code, 'bad-argument');
    assert.match(d.message, /`deflate` is not offered: lbconf compresses with `zstd`, `br` and `gzip`/);
    assert.match(only('compress brotli;\nserver { listen 80; location / { return 204; } }').message, /write `br`/);
    assert.match(only('compress lz4;\nserver { listen 80; location / { return 204; } }').message, /`lz4` is not an encoding/);
    const twice = only('compress gzip br gzip;\nserver { listen 80; location / { return 204; } }');
    assert.equal(twice.code, 'duplicate-argument');
    assert.match(twice.message, /`gzip` is listed twice/);
  });

  it('bad types and gzip_proxied conditions are reported at the argument', () => {
    const type = only('gzip_types text/html json;\nserver { listen 80; location / { return 204; } }');
    assert.equal(type.at, '1:22-1:26');
    assert.match(type.message, /`json` is not a MIME type/);
    const cond = only('gzip_proxied any sometimes;\nserver { listen 80; location / { return 204; } }');
    assert.equal(cond.at, '1:18-1:27');
    assert.match(cond.message, /expected one of `off`, `expired`/);
    const off = only('gzip_proxied off any;\nserver { listen 80; location / { return 204; } }');
    assert.match(off.message, /`off` cannot be combined/);
    assert.match(only('gzip maybe;\nserver { listen 80; location / { return 204; } }').message, /expected `on` or `off`, not `maybe`/);
  });

  it('wrong context: in an upstream block, at the directive name', () => {
    const d = only('upstream app {\n    server 10.0.0.1;\n    gzip on;\n}\nserver { listen 80; location / { proxy_pass http://app; } }\n');
    assert.deepEqual([d.at, d.code, d.message], ['3:5-3:9', 'wrong-context', '`gzip` is not allowed in `upstream`']);
    assert.match(d.hint ?? '', /the top level, `server`, `location`/);
  });

  it('a repeated directive in one block is a duplicate', () => {
    const list = check('server { listen 80; gzip on; gzip off; location / { return 204; } }').diagnostics;
    assert.deepEqual(list.map((d) => d.code), ['duplicate-directive']);
  });
});
