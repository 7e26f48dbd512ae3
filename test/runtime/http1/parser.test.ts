import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ParseError, ResponseParser, type ResponseHeaders, type ResponseSink } from '../../../runtime/transport/http1/response-parser.ts';

// The upstream response parser on its own: every well-formed response gives the
// same events however the bytes are split across reads, and each malformed one
// is refused with a code the proxy turns into a 502.

interface Parsed {
  interim: number[];
  status: number;
  reason: string;
  headers: ResponseHeaders | null;
  body: string;
  trailers: ResponseHeaders | null;
  ended: boolean;
}

class Recorder implements ResponseSink {
  r: Parsed = { interim: [], status: 0, reason: '', headers: null, body: '', trailers: null, ended: false };
  onInterim(status: number): void { this.r.interim.push(status); }
  onHead(status: number, reason: string, headers: ResponseHeaders): void { this.r.status = status; this.r.reason = reason; this.r.headers = { ...headers }; }
  onData(chunk: Buffer): void { this.r.body += chunk.toString('latin1'); }
  onEnd(trailers: ResponseHeaders | null): void { this.r.ended = true; this.r.trailers = trailers ? { ...trailers } : null; }
}

/** Feeds `pieces` in order; returns what the sink saw and the unconsumed tail. */
function parse(pieces: Buffer[], head = false): { r: Parsed; rest: string; keepAlive: boolean } {
  const sink = new Recorder();
  const p = new ResponseParser(sink, 16 * 1024);
  p.reset(head, false);
  let rest = '';
  for (const piece of pieces) {
    if (p.done) { rest += piece.toString('latin1'); continue; }
    const at = p.execute(piece, 0);
    if (at < piece.length) rest += piece.subarray(at).toString('latin1');
  }
  if (!p.done) p.finishAtClose();
  return { r: sink.r, rest, keepAlive: p.keepAlive };
}

function split(text: string, cuts: number[]): Buffer[] {
  const buf = Buffer.from(text, 'latin1');
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) { out.push(buf.subarray(last, p)); last = p; }
  out.push(buf.subarray(last));
  return out.filter((b) => b.length > 0);
}

const CASES: Array<{ name: string; wire: string; status: number; body: string; keepAlive: boolean; trailers?: ResponseHeaders; interim?: number[]; head?: boolean }> = [
  { name: 'content-length', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello', status: 200, body: 'hello', keepAlive: true },
  { name: 'chunked with extensions and trailers', wire: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: abc\r\n\r\n', status: 200, body: 'hello, world', keepAlive: true, trailers: { 'x-sum': 'abc' } },
  { name: 'chunked without trailers', wire: 'HTTP/1.1 201 Created\r\ntransfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', status: 201, body: 'abc', keepAlive: true },
  { name: 'read to close', wire: 'HTTP/1.1 200 OK\r\n\r\nuntil the end', status: 200, body: 'until the end', keepAlive: false },
  { name: 'HTTP/1.0 without keep-alive', wire: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok', status: 200, body: 'ok', keepAlive: false },
  { name: 'HTTP/1.0 with keep-alive', wire: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok', status: 200, body: 'ok', keepAlive: true },
  { name: 'Connection: close', wire: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', status: 200, body: 'ok', keepAlive: false },
  { name: '204 has no body', wire: 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n', status: 204, body: '', keepAlive: true },
  { name: '304 has no body', wire: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', status: 304, body: '', keepAlive: true },
  { name: 'HEAD response has no body', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', status: 200, body: '', keepAlive: true, head: true },
  { name: 'interim responses come first', wire: 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', status: 200, body: 'x', keepAlive: true, interim: [103, 100] },
  { name: 'identical Content-Length values', wire: 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc', status: 200, body: 'abc', keepAlive: true },
  { name: 'empty reason and OWS', wire: 'HTTP/1.1 200 \r\nX-Empty:\r\nX-Pad: \t v \t\r\nContent-Length: 0\r\n\r\n', status: 200, body: '', keepAlive: true },
];

describe('upstream response parser', () => {
  for (const c of CASES) {
    test(`${c.name}: the same result however the bytes are split`, () => {
      const whole = parse([Buffer.from(c.wire, 'latin1')], c.head);
      assert.equal(whole.r.status, c.status);
      assert.equal(whole.r.body, c.body);
      assert.equal(whole.r.ended, true);
      assert.equal(whole.keepAlive, c.keepAlive);
      assert.deepEqual(whole.r.interim, c.interim ?? []);
      if (c.trailers) assert.deepEqual(whole.r.trailers, c.trailers);
      fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
        const got = parse(split(c.wire, cuts), c.head);
        assert.deepEqual(got.r, whole.r);
        assert.equal(got.rest, '');
      }), { numRuns: 150 });
    });
  }

  test('headers: lower-case names, repeats become arrays, no prototype', () => {
    const { r } = parse([Buffer.from('HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n__proto__: x\r\nContent-Length: 0\r\n\r\n')]);
    assert.deepEqual(r.headers!['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.headers!.__proto__, 'x');
  });

  test('bytes after a complete response are left to the caller', () => {
    const { r, rest } = parse([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA')]);
    assert.equal(r.body, 'ok');
    assert.equal(rest, 'EXTRA');
  });

  const MALFORMED: Array<[string, string, string]> = [
    ['not HTTP', 'garbage\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['HTTP/2 status line', 'HTTP/2 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['status out of range', 'HTTP/1.1 99 Bad\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['bare LF inside a value', 'HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['conflicting Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc', 'HPE_INVALID_CONTENT_LENGTH'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['chunk data without CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['101 without an upgrade request', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', 'HPE_INVALID_CONSTANT'],
  ];
  for (const [name, wire, code] of MALFORMED) {
    test(`refused: ${name} (${code})`, () => {
      assert.throws(() => parse([Buffer.from(wire, 'latin1')]), (err: unknown) => err instanceof ParseError && err.code === code);
    });
  }

  test('a head over the limit is refused, whole or in pieces', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`;
    assert.throws(() => parse([Buffer.from(big)]), (err: unknown) => err instanceof ParseError && err.code === 'HPE_HEADER_OVERFLOW');
    assert.throws(() => parse(split(big, [100, 5000, 9000])), (err: unknown) => err instanceof ParseError && err.code === 'HPE_HEADER_OVERFLOW');
  });

  test('a pause mid-buffer stops delivery until the caller feeds the rest', () => {
    const sink = new Recorder();
    const p = new ResponseParser(sink, 1024);
    p.reset(false, false);
    const origData = sink.onData.bind(sink);
    sink.onData = (chunk) => { origData(chunk); p.paused = true; };
    const wire = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n');
    const at = p.execute(wire, 0);
    assert.equal(sink.r.body, 'ab');
    assert.ok(at < wire.length);
    p.paused = false;
    const at2 = p.execute(wire.subarray(at), 0);
    assert.equal(sink.r.body, 'abcd');
    assert.ok(at + at2 < wire.length);
    p.paused = false;
    p.execute(wire.subarray(at + at2), 0);
    assert.equal(sink.r.ended, true);
  });
});
