import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkText } from '../../../compiler/check.ts';
import { raw, startProxy } from '../../helpers/proxy.ts';

// What nginx does with these, lbconf does too, or refuses to load (issue 15 item 4):
// never something else in silence.

describe('nginx forms that lbconf must not take for something else', { timeout: 20_000 }, () => {
  test('return 444 closes the connection without a response', async () => {
    const p = await startProxy((port) => `server { listen 127.0.0.1:${port}; location / { return 444; } location /ok { return 200 "ok"; } }`);
    try {
      assert.equal(await raw(p.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'), '');
      assert.equal((await p.get('/ok')).status, 200);
    } finally {
      await p.close();
    }
  });

  test('error_page with a URI or a named location is refused, not sent as the body', () => {
    for (const target of ['/50x.html', '@fallback', '=200']) {
      const c = checkText(`server { listen 80; error_page 500 502 ${target}; location / { return 200; } }`, 't.lbconf');
      const d = c.diagnostics.find((x) => x.severity === 'error');
      assert.ok(d, target);
      assert.match(d.message, /nginx redirects to it internally/);
    }
  });

  test('proxy_pass with a regex capture or a variable in its URI is refused, not proxied to the literal text', () => {
    const c = checkText('server { listen 80; location ~ ^/api/(.*)$ { proxy_pass http://127.0.0.1:3000/$1; } }', 't.lbconf');
    const d = c.diagnostics.find((x) => x.severity === 'error');
    assert.ok(d);
    assert.match(d.message, /regex captures/);
  });
});
