import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { Backend, stopAll } from '../../helpers/backends.ts';
import { certFiles } from '../../helpers/certs.ts';
import { h2session } from '../../helpers/h2.ts';
import { freePort, startProxy, type TestProxy } from '../../helpers/proxy.ts';
import { RawClient } from '../../helpers/raw.ts';
import { TLS_NAME, tlsServer } from '../../helpers/tls-proxy.ts';

// Every request check runs on every path a request can come by (security
// review, item 5): a table of checks × paths, each cell a real request on a
// real socket. A request that gets past a check reaches the backend, which
// answers 299: so a cell that skips its check fails loudly.

/** The request line and header lines of one test request (no final blank line). */
interface Req { version: '1.0' | '1.1'; target: string; headers: Array<[string, string]> }

const OK: Req = { version: '1.1', target: '/ok', headers: [['Host', 'a.test']] };

interface Check {
  name: string;
  status: number;
  /** The HTTP/1 request, from a plain one. */
  h1?: (r: Req) => Req;
  /** The HTTP/2 request's headers, when the check applies to HTTP/2. */
  h2?: () => OutgoingHttpHeaders;
  /** HTTP/2 may refuse it below HTTP too (nghttp2 resets the stream, as for too many fields: ENHANCE_YOUR_CALM). */
  h2Reset?: boolean;
}

const many = (n: number): Array<[string, string]> => Array.from({ length: n }, (_, i): [string, string] => [`X-H${i}`, 'v']);

const CHECKS: Check[] = [
  {
    name: 'a target over client_max_uri_length', status: 414,
    h1: (r) => ({ ...r, target: `/ok/${'a'.repeat(1100)}` }),
    h2: () => ({ ':path': `/ok/${'a'.repeat(1100)}` }),
  },
  { name: 'two Host headers', status: 400, h1: (r) => ({ ...r, headers: [...r.headers, ['Host', 'b.test']] }) },
  { name: 'Transfer-Encoding in HTTP/1.0', status: 400, h1: (r) => ({ ...r, version: '1.0', headers: [...r.headers, ['Transfer-Encoding', 'chunked']] }) },
  {
    name: 'a Content-Length over client_max_body_size', status: 413,
    h1: (r) => ({ ...r, headers: [...r.headers, ['Content-Length', '2000']] }),
    h2: () => ({ ':path': '/ok', ':method': 'POST', 'content-length': '2000' }),
  },
  {
    name: 'more header bytes than client_max_header_size', status: 431,
    h1: (r) => ({ ...r, headers: [...r.headers, ['X-Big', 'x'.repeat(3000)]] }),
    h2: () => ({ ':path': '/ok', 'x-big': 'x'.repeat(3000) }),
  },
  {
    name: 'more header fields than client_max_headers', status: 431,
    h1: (r) => ({ ...r, headers: [...r.headers, ...many(40)] }),
    h2: () => ({ ':path': '/ok', ...Object.fromEntries(many(40).map(([k, v]) => [k.toLowerCase(), v])) }),
    h2Reset: true,
  },
  { name: 'a host that is not the :authority', status: 400, h2: () => ({ ':path': '/ok', host: 'b.test' }) },
  {
    // UTF-8 bytes as they are, not escaped: HTTP/1's parser refuses them; HTTP/2 hands them over as latin1 text.
    name: 'raw non-ASCII bytes in the target', status: 400,
    h1: (r) => ({ ...r, target: '/ok/caf\u00e9?q=\u00e9' }),
    h2: () => ({ ':path': '/ok/caf\u00c3\u00a9?q=\u00c3\u00a9' }),
  },
];

function text(r: Req, extra: Array<[string, string]> = []): string {
  return `GET ${r.target} HTTP/${r.version}\r\n${[...r.headers, ...extra].map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

const UPGRADE: Array<[string, string]> = [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']];

/** The status of the last response on a connection that `data` is sent on, read until it closes. */
async function lastStatus(client: Promise<RawClient>, data: string): Promise<number> {
  const got = await (await client).send(data).readToEnd(5000);
  const all = [...got.matchAll(/HTTP\/1\.[01] (\d{3})/g)];
  return all.length === 0 ? -1 : Number(all[all.length - 1][1]);
}

describe('admission: every check on every path', { timeout: 60_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let plain = 0;
  let tls1 = 0;
  let tls2 = 0;

  before(async () => {
    const cert = await certFiles('a.test');
    b = await new Backend('b', (req, res) => { req.resume(); res.writeHead(299); res.end('passed'); }).listen();
    b.server.on('upgrade', (_req, socket) => { socket.end('HTTP/1.1 299 Passed\r\nContent-Length: 0\r\n\r\n'); });
    tls1 = await freePort();
    tls2 = await freePort();
    const limits = 'client_max_uri_length 1k; client_max_headers 30; client_max_header_size 2k; client_max_body_size 1k; location / { proxy_pass http://app; } location = /first { return 200 "first"; }';
    p = await startProxy((port) => {
      plain = port;
      return `
        upstream app { server ${b.address}; }
        server { listen 127.0.0.1:${port}; server_name a.test; ${limits} }
        ${tlsServer(tls1, cert, `http2 off; ${limits}`)}
        ${tlsServer(tls2, cert, limits)}
      `;
    });
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  // The TLS listener without HTTP/2 is reached without ALPN (null).
  const h1Paths: Array<{ name: string; send: (r: Req) => Promise<number> }> = [
    { name: 'lbconf\'s listener', send: (r) => lastStatus(RawClient.open(plain), text(r, [['Connection', 'close']])) },
    {
      // A chunked request first: lbconf's listener hands the connection to Node's server, which reads the next one.
      name: 'Node\'s server behind it',
      send: (r) => lastStatus(RawClient.open(plain), `POST /first HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${text(r, [['Connection', 'close']])}`),
    },
    { name: 'TLS, HTTP/1.1', send: (r) => lastStatus(RawClient.openTls(tls1, TLS_NAME, null), text(r, [['Connection', 'close']])) },
    { name: 'TLS with HTTP/2 enabled, HTTP/1.1', send: (r) => lastStatus(RawClient.openTls(tls2), text(r, [['Connection', 'close']])) },
    { name: 'an upgrade', send: (r) => lastStatus(RawClient.open(plain), text(r, UPGRADE)) },
    { name: 'an upgrade over TLS', send: (r) => lastStatus(RawClient.openTls(tls1, TLS_NAME, null), text(r, UPGRADE)) },
  ];

  for (const path of h1Paths) {
    test(`${path.name}: a plain request passes`, async () => {
      assert.equal(await path.send(OK), 299);
    });
    for (const check of CHECKS) {
      if (check.h1 === undefined) continue;
      test(`${path.name}: ${check.name} → ${check.status}`, async () => {
        const before = b.requests;
        assert.equal(await path.send(check.h1!(OK)), check.status);
        assert.equal(b.requests, before, 'the backend saw nothing');
      });
    }
  }

  describe('HTTP/2', () => {
    let session: ClientHttp2Session;
    before(async () => {
      session = h2session(tls2).on('error', () => {});
      await once(session, 'connect');
    });
    after(() => { session.close(); });

    async function status(headers: OutgoingHttpHeaders): Promise<number> {
      const s = h2session(tls2).on('error', () => {});
      try {
        const stream = s.request({ ':authority': 'a.test', ':path': '/ok', ...headers }, { endStream: headers[':method'] !== 'POST' });
        stream.on('error', () => {});
        const [h] = await Promise.race([once(stream, 'response'), once(stream, 'close').then(() => [{ ':status': -1 }])]).catch(() => [{ ':status': -1 }]) as [Record<string, unknown>];
        stream.destroy();
        return Number(h[':status']);
      } finally {
        s.destroy();
      }
    }

    test('HTTP/2: a plain request passes', async () => {
      assert.equal(await status({}), 299);
    });
    test('HTTP/2: a host and an :authority that differ only by the default port pass', async () => {
      assert.equal(await status({ ':authority': 'a.test:443', host: 'a.test' }), 299);
      assert.equal(await status({ ':authority': 'A.test', host: 'a.test:443' }), 299);
      assert.equal(await status({ ':authority': 'a.test:8443', host: 'a.test' }), 400);
    });
    test('HTTP/2: fields are counted as in HTTP/1.1: no pseudo-header fields, cookie crumbs as one Cookie', async () => {
      // 4 pseudo-header fields, 26 fields and 4 crumbs: 27 fields once translated (client_max_headers 30), 34 as sent
      // (Node's HTTP/2 layer itself resets a stream with more than client_max_headers + 4).
      const crumbs = Array.from({ length: 4 }, (_, i) => `c${i}=v`);
      const fields = Object.fromEntries(many(26).map(([k, v]) => [k.toLowerCase(), v]));
      assert.equal(await status({ ...fields, cookie: crumbs }), 299);
    });
    for (const check of CHECKS) {
      if (check.h2 === undefined) continue;
      test(`HTTP/2: ${check.name} → ${check.status}`, async () => {
        const before = b.requests;
        const got = await status(check.h2!());
        assert.ok(got === check.status || (check.h2Reset === true && got === -1), `got ${got}`);
        assert.equal(b.requests, before, 'the backend saw nothing');
      });
    }
  });
});

/** A proxy to `b` on a plain listener (its port) and on a TLS one with HTTP/2 on 127.0.0.1:`tls`. */
async function plainAndTls(b: Backend, tls: number): Promise<TestProxy> {
  const cert = await certFiles('a.test');
  return startProxy((port) => `
    upstream app { server ${b.address}; }
    server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }
    ${tlsServer(tls, cert, 'location / { proxy_pass http://app; }')}
  `);
}

describe('what HTTP/2 and h2c requests become upstream', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let tls = 0;

  before(async () => {
    // The fields as they came (Node's req.headers would join cookies itself).
    b = await new Backend('b', (req, res) => { res.end(JSON.stringify({ raw: req.rawHeaders, headers: req.headers })); }).listen();
    b.server.on('upgrade', (_req, socket) => { socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'); });
    tls = await freePort();
    p = await plainAndTls(b, tls);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  test('HTTP/2 cookies in several fields go upstream as one Cookie, joined with "; " (RFC 9113 §8.2.3)', async () => {
    const s = h2session(tls).on('error', () => {});
    try {
      // Raw fields, so that the client sends one `cookie` field each (an object's array it may join itself).
      const stream = s.request([':method', 'GET', ':path', '/c', ':scheme', 'https', ':authority', 'a.test', 'cookie', 'a=1', 'cookie', 'b=2', 'cookie', 'c=3'] as unknown as OutgoingHttpHeaders);
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => { body += c; });
      await once(stream, 'end');
      const seen = JSON.parse(body) as { raw: string[] };
      const cookies = seen.raw.filter((_, i) => i % 2 === 1 && seen.raw[i - 1].toLowerCase() === 'cookie');
      assert.deepEqual(cookies, ['a=1; b=2; c=3']);
    } finally {
      s.destroy();
    }
  });

  test('Upgrade: h2c is not passed on: the request is served as plain HTTP/1.1, without Upgrade or HTTP2-Settings', async () => {
    const got = await lastStatus(RawClient.open(p.port),
      'GET /h HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /after HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n');
    assert.equal(got, 200, 'the connection stays HTTP/1.1: the request after it is served too');
    const r = await p.get('/again', { headers: { upgrade: 'h2c', connection: 'upgrade' } }).catch(() => null);
    if (r !== null) {
      const seen = JSON.parse(r.body) as { headers: Record<string, string> };
      assert.equal(seen.headers.upgrade, undefined);
      assert.equal(seen.headers['http2-settings'], undefined);
    }
  });
});

describe('an HTTP/1 request line that says HTTP/2.0, on a listener with HTTP/2', { timeout: 30_000 }, () => {
  let b: Backend;
  let p: TestProxy;
  let tls = 0;

  before(async () => {
    b = await new Backend('b').listen();
    tls = await freePort();
    p = await plainAndTls(b, tls);
  });

  after(async () => {
    await p.close();
    await stopAll([b]);
  });

  const open = () => RawClient.openTls(tls);

  test('is refused (505; CONNECT 405) and lbconf stays up: it is not an HTTP/2 stream', async () => {
    assert.equal(await lastStatus(open(), 'GET / HTTP/2.0\r\nHost: a.test\r\n\r\n'), 505);
    assert.equal(await lastStatus(open(), 'CONNECT a.test:443 HTTP/2.0\r\nHost: a.test\r\n\r\n'), 405);
    assert.equal(await lastStatus(open(), 'GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'), 200);
  });
});
