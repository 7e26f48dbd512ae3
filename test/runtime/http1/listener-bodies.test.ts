import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { startListener } from '../../helpers/listener.ts';

// Request bodies on lbconf's own listener, against Node's HTTP server: where a
// body ends (every Content-Length form, a byte too many, a request handed off
// right after a body or in the middle of one) must be where Node's server (llhttp)
// says it ends, or the request goes to Node's server to decide. Both sides note
// every request as `TARGET LENGTH SHA1` of its body, and answer with that in
// `x-seen` (HEAD too: no body needed).

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

/** What both sides read, in order: each whole request's target and body (`/node` stripped, so that both sides read alike). */
const seen: string[] = [];

/** Reads the body, notes it, then answers with it in a header. */
function answer(url: string, body: Readable, res: { writeHead(s: number, h: string[]): unknown; end(): unknown }): void {
  const chunks: Buffer[] = [];
  const target = url.replace(/^\/node/, '');
  body.on('data', (c: Buffer) => chunks.push(c));
  body.on('end', () => {
    const all = Buffer.concat(chunks);
    seen.push(`${target} ${all.length} ${sha1(all)}`);
    res.writeHead(200, ['x-seen', `${target} ${all.length} ${sha1(all)}`, 'content-length', '0']);
    res.end();
  });
}

interface Rig { port: number; lane: number; close(): Promise<void> }

/** The listener serves every target but `/node…`, which it hands to Node's server with the rest of the connection. */
async function rig(): Promise<Rig> {
  const r = { lane: 0 } as Rig;
  const started = await startListener((req, res) => {
    if (req.url.startsWith('/node')) return false;
    r.lane++;
    answer(req.url, req, res);
    return true;
  }, (req, res) => answer(req.url!, req, res), (err, socket) => {
    socket.end(`HTTP/1.1 400 ${err.code}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  });
  r.port = started.port;
  r.close = started.close;
  return r;
}

/**
 * Sends `parts` (a pause between them) on one connection; returns the statuses and x-seen values it got
 * until `GET /end` was answered, the server closed, or 250 ms passed (a body still waited for).
 */
async function exchange(port: number, parts: string[]): Promise<string[]> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  let text = '';
  s.setEncoding('latin1');
  let wake: () => void = () => {};
  const done = new Promise<void>((resolve) => { wake = resolve; });
  s.on('data', (c: string) => { text += c; if (/x-seen: \/end /.test(text)) wake(); });
  s.on('close', () => wake());
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    s.write(Buffer.from(parts[i], 'latin1'));
  }
  const timer = setTimeout(wake, 250);
  await done;
  clearTimeout(timer);
  s.destroy();
  return [...text.matchAll(/^HTTP\/1\.1 (\d+)|^x-seen: (.*)$/gm)].map((m) => m[1] ?? m[2].trim());
}

const END = 'GET /end HTTP/1.1\r\nHost: a\r\n\r\n';

/**
 * The same bytes sent for the listener (`/x`) and for Node's server (`/node/x`) must be read as the same
 * requests with the same bodies, and refused (400) alike. (Answers may differ: Node's server writes its 400
 * for bytes after a request before that request's own answer, where the listener answers in order.)
 */
async function differ(r: Rig, head: (target: string) => string, rest: string, cut = -1): Promise<string[]> {
  // `cut`: sent in two writes, cut that many bytes after the head (-1: in one).
  const run = async (target: string) => {
    const all = head(target) + rest;
    seen.length = 0;
    const at = cut < 0 ? -1 : head(target).length + cut;
    const answers = await exchange(r.port, at < 0 || at >= all.length ? [all] : [all.slice(0, at), all.slice(at)]);
    return { requests: [...seen], refused: answers.includes('400'), answers };
  };
  const lane = await run('/x');
  const node = await run('/node/x');
  const what = `lbconf's listener and Node's server read ${JSON.stringify(head('/x') + rest)} differently`;
  assert.deepEqual(lane.requests, node.requests, what);
  assert.equal(lane.refused, node.refused, what);
  return lane.answers;
}

test('differential: every form of Content-Length, and a body with more or fewer bytes than it says, end where Node\'s server ends them', async () => {
  const r = await rig();
  // Mostly what the listener reads itself (digits, one field): then its reading is what is compared.
  const value = fc.oneof(
    { weight: 12, arbitrary: fc.tuple(fc.nat(3), fc.nat(14)).map(([zeros, n]) => '0'.repeat(zeros) + String(n)) },
    { weight: 6, arbitrary: fc.constantFrom(' 5', '5 ', '\t5\t', '+5', '-5', '5,5', '5, 5', '5 5', '0x5', '5.0', '5e0', '', ' ', '000000000000005', '0000000000000005') },
    { weight: 1, arbitrary: fc.constantFrom('999999999999999', '9999999999999999', '4294967301', '18446744073709551621') },
  );
  const name = fc.oneof({ weight: 6, arbitrary: fc.constant('Content-Length') }, { weight: 2, arbitrary: fc.constantFrom('content-length', 'CONTENT-LENGTH', 'Content-Length ', 'Content_Length') });
  const method = fc.constantFrom('POST', 'PUT', 'GET', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH');
  const fields = fc.oneof({ weight: 4, arbitrary: fc.tuple(name, value).map((f) => [f]) }, { weight: 1, arbitrary: fc.array(fc.tuple(name, value), { minLength: 2, maxLength: 2 }) });
  const chunked = fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
  const body = fc.stringMatching(/^[a-zA-Z0-9 ]{0,12}$/);
  // Sent whole, or in two writes cut somewhere in the body or the request after it.
  const cut = fc.option(fc.nat(40), { nil: -1 });
  try {
    await fc.assert(fc.asyncProperty(method, fields, chunked, body, cut, async (m, list, te, b, at) => {
      const head = (target: string) => `${m} ${target} HTTP/1.1\r\nHost: a\r\n${list.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${te ? 'Transfer-Encoding: chunked\r\n' : ''}\r\n`;
      await differ(r, head, b + END, at);
    }), { numRuns: 120 });
    // Not vacuous: a good share were read by the listener (two requests for each it served).
    assert.ok(r.lane > 30, `the listener served ${r.lane} requests itself`);
  } finally {
    await r.close();
  }
});

test('Content-Length 5 and a sixth byte: the sixth starts the next request, which goes to Node\'s server when it is not whole yet', async () => {
  const r = await rig();
  try {
    const head = (t: string) => `POST ${t} HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n`;
    const seen = await differ(r, head, `helloG${END.slice(1)}`, 6);
    assert.deepEqual(seen, ['200', `/x 5 ${sha1(Buffer.from('hello'))}`, '200', `/end 0 ${sha1(Buffer.alloc(0))}`]);
  } finally {
    await r.close();
  }
});

test('HEAD, GET and OPTIONS with a body, Content-Length 0, and leading zeros: the body is read and the next request follows it', async () => {
  const r = await rig();
  try {
    for (const [method, length, body] of [['HEAD', '3', 'abc'], ['GET', '4', 'GET '], ['OPTIONS', '2', 'ab'], ['POST', '0', ''], ['PUT', '000005', 'hello'], ['POST', '000000000000005', 'hello']]) {
      const seen = await differ(r, (t) => `${method} ${t} HTTP/1.1\r\nHost: a\r\nContent-Length: ${length}\r\n\r\n`, body + END);
      assert.deepEqual(seen, ['200', `/x ${body.length} ${sha1(Buffer.from(body))}`, '200', `/end 0 ${sha1(Buffer.alloc(0))}`], method);
    }
    assert.equal(r.lane, 12, 'all served by the listener (two requests each)');
  } finally {
    await r.close();
  }
});

test('a request handed off right after a body (chunked, HTTP/1.0, Expect) gets its bytes exactly, in one write or split', async () => {
  const r = await rig();
  try {
    const first = 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello';
    const nexts = [
      'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'POST /h HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc',
      'POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
    ];
    for (const next of nexts) {
      for (const cut of [-1, first.length - 2, first.length + 3]) {
        const all = first + next + END;
        const seen = await exchange(r.port, cut < 0 ? [all] : [all.slice(0, cut), all.slice(cut)]);
        const target = / (\/\w) /.exec(next)![1];
        assert.deepEqual(seen.filter((s) => s !== '100'), ['200', `/x 5 ${sha1(Buffer.from('hello'))}`, '200', `${target} 3 ${sha1(Buffer.from('abc'))}`, '200', `/end 0 ${sha1(Buffer.alloc(0))}`], `${next} cut at ${cut}`);
      }
    }
  } finally {
    await r.close();
  }
});

test('a body request the handler gives to Node\'s server, part of its body arrived already: Node reads it whole, then what follows', async () => {
  const r = await rig();
  try {
    const head = 'PUT /node/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n';
    for (const cut of [head.length, head.length + 4, head.length + 10]) {
      const all = `${head}0123456789${END}`;
      const seen = await exchange(r.port, [all.slice(0, cut), all.slice(cut)]);
      assert.deepEqual(seen, ['200', `/x 10 ${sha1(Buffer.from('0123456789'))}`, '200', `/end 0 ${sha1(Buffer.alloc(0))}`], `cut at ${cut}`);
    }
  } finally {
    await r.close();
  }
});
