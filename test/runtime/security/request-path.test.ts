import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { raw, startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { statusOf } from '../../helpers/raw.ts';
import { fieldValue } from '../../../runtime/core/field-value.ts';

// No request can throw out of the request path (security review, item 1):
// values made from the request and written into a header are checked, a
// client's doing is never a server's failure, and an exception that escapes
// anyway answers 500 to that request alone.

/** The status line and the named header of a raw response. */
function parse(text: string): { status: number; headers: Map<string, string> } {
  const [head] = text.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) { const c = l.indexOf(':'); headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()); }
  return { status: statusOf(lines[0]), headers };
}

async function send(p: TestProxy, target: string, extra = ''): Promise<{ status: number; headers: Map<string, string> }> {
  return parse(await raw(p.port, `GET ${target} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n${extra}\r\n`));
}

describe('values from the request in headers', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;

  before(async () => {
    b = await new Backend('b').listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        location /r { return 301 https://$host$uri; }
        location = /n { return 302 /n?to=$arg_to; }
        location = /e { add_header X-E $arg_e always; return 200 "e"; }
        location /p { add_header X-E $arg_e; add_header X-U $uri; proxy_set_header X-Uri $uri; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('a decoded path above U+00FF in a redirect goes as its UTF-8 bytes, as nginx sends it; lbconf goes on', async () => {
    const r = await send(p, '/r/%C4%80');
    assert.equal(r.status, 301);
    assert.equal(r.headers.get('location'), 'https://shop.test/r/\xc4\x80');
    assert.equal((await p.get('/e?e=1')).status, 200);
  });

  test('$arg_ is the value as sent, not decoded (nginx): an escaped CR LF stays escaped', async () => {
    const r = await send(p, '/n?to=%0d%0aSet-Cookie:%20x=1');
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/n?to=%0d%0aSet-Cookie:%20x=1');
    assert.equal(r.headers.get('set-cookie'), undefined);
    const e = await send(p, '/e?e=%0d%0a');
    assert.equal(e.status, 200);
    assert.equal(e.headers.get('x-e'), '%0d%0a');
  });

  test('$arg_ as nginx reads it: the first NAME= at the start or after &, the name in any case', async () => {
    assert.equal((await send(p, '/e?xe=1&E=2&e=3')).headers.get('x-e'), '2');
    assert.equal((await send(p, '/e?e&e=4')).headers.get('x-e'), '4');
    assert.equal((await send(p, '/e?a=1')).headers.get('x-e'), undefined);
  });

  test('on a proxied location, add_header and proxy_set_header with such values answer, and the server is not blamed', async () => {
    const before = b.requests;
    for (let i = 0; i < 5; i++) {
      const r = await send(p, '/p/%C4%80?e=%0d%0a');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-e'), '%0d%0a');
      assert.equal(r.headers.get('x-u'), '/p/\xc4\x80');
    }
    assert.equal(b.requests - before, 5);
    const echoed = JSON.parse((await p.get('/p/%C4%80')).body) as { headers: Record<string, string> };
    assert.equal(Buffer.from(echoed.headers['x-uri'], 'latin1').toString('utf8'), '/p/Ā');
    assert.equal((await p.get('/p/x')).status, 200);
  });
});

describe('fieldValue: what a header field can carry', () => {
  test('controls but tab are refused; above U+00FF goes as UTF-8 bytes; latin1 as is', () => {
    for (const bad of ['a\r\nb', 'a\nb', 'a\rb', 'a\0b', '\x7f', '\x1b[0m']) assert.equal(fieldValue(bad), null, JSON.stringify(bad));
    assert.equal(fieldValue('a\tb'), 'a\tb');
    assert.equal(fieldValue('caf\xe9'), 'caf\xe9');
    assert.equal(fieldValue('Ā'), '\xc4\x80');
    assert.equal(fieldValue('😀'), '\xf0\x9f\x98\x80');
  });
});

describe('the last resort: a fault in the request path', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let failing = 0;

  before(async () => {
    b = await new Backend('b').listen();
    p = await startProxy((port) => `
      upstream app { server ${b.address}; }
      server {
        listen 127.0.0.1:${port};
        location = /text { return 200 "fine"; }
        location = /redirect { return 302 /x; }
        location /p { add_header X-A a; proxy_pass http://app; }
        location /s { proxy_set_header X-S $arg_s; proxy_pass http://app; }
      }
    `);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  /** The running routes, to inject faults into (the runtime keeps them private). */
  function routes(): Array<Record<string, unknown> & { proxy: Record<string, unknown> | null }> {
    return (p.rt as unknown as { active: { routes: Array<Record<string, unknown> & { proxy: Record<string, unknown> | null }> } }).active.routes;
  }

  test('an exception while answering gives that request 500, logs the stack, and lbconf keeps serving', async () => {
    const route = routes().find((r) => r.text !== null && r.kind === 'return')!;
    const text = route.text;
    route.text = () => { failing++; throw new Error('injected fault'); };
    try {
      const r = await p.get('/text');
      assert.equal(r.status, 500);
      assert.equal(failing, 1);
      const line = p.logs.find((l) => l.level === 'error' && /injected fault/.test(l.message));
      assert.ok(line, 'the fault is logged at error level');
      assert.match(line.message, /at .*request-path\.test\.ts/, 'with its stack');
    } finally {
      route.text = text;
    }
    assert.equal((await p.get('/text')).body, 'fine');
  });

  test('on Node\'s server too (a request lbconf\'s listener hands over: HTTP/1.0)', async () => {
    const route = routes().find((r) => r.text !== null && r.kind === 'return')!;
    const text = route.text;
    route.text = () => { throw new Error('injected fault'); };
    try {
      const r = parse(await raw(p.port, 'GET /text HTTP/1.0\r\nHost: shop.test\r\n\r\n'));
      assert.equal(r.status, 500);
    } finally {
      route.text = text;
    }
    assert.equal((await p.get('/text')).status, 200);
  });

  test('an exception while relaying a response answers 500 and does not count against the server', async () => {
    const route = routes().find((r) => r.proxy !== null && (r.proxy.addHeaders as unknown[] | null)?.length === 1)!;
    const rules = route.proxy!.addHeaders as Array<{ value: unknown }>;
    const value = rules[0].value;
    rules[0].value = () => { throw new Error('injected relay fault'); };
    try {
      // More tries than max_fails (1): a failure counted each time would take the lone server out.
      for (let i = 0; i < 3; i++) assert.equal((await p.get('/p')).status, 500);
      assert.ok(p.logs.some((l) => l.level === 'error' && /injected relay fault/.test(l.message)));
    } finally {
      rules[0].value = value;
    }
    const r = await p.get('/p');
    assert.equal(r.status, 200, 'the server was not marked failed');
  });

  test('a value that cannot be carried at all is refused with 400 for that request, logged once, the server not blamed', async () => {
    const route = routes().find((r) => r.proxy !== null && (r.proxy.headers as unknown[]).length === 1)!;
    const rules = route.proxy!.headers as Array<{ value: unknown }>;
    const value = rules[0].value;
    // No variable yields a CR today (the path refuses controls, $arg_ is not decoded, parsers refuse them in fields): injected.
    rules[0].value = () => fieldValue('a\r\nInjected: yes');
    const before = b.requests;
    const lines = p.logs.length;
    try {
      for (let i = 0; i < 3; i++) assert.equal((await p.get('/s')).status, 400);
    } finally {
      rules[0].value = value;
    }
    assert.equal(b.requests, before, 'no server saw it');
    assert.equal(p.logs.slice(lines).filter((l) => /proxy_set_header/.test(l.message)).length, 3, 'one line per refused request');
    assert.equal((await p.get('/s?s=1')).status, 200);
  });
});
