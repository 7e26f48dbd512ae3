import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { checkText } from '../../../compiler/check.ts';
import { loadPlan, planSource } from '../../../compiler/plan.ts';
import { hasErrors } from '../../../lang/diagnostic.ts';
import { exposition } from '../../../runtime/control/exposition.ts';
import { Launcher } from '../../../runtime/worker/launcher.ts';
import { Backend, echoName } from '../../helpers/backends.ts';
import { freePort, until, within } from '../../helpers/proxy.ts';

// `workers 4` in one process: real worker threads listening with SO_REUSEPORT
// on a loopback port, real backends, and clients that open a fresh connection
// per request, so the kernel spreads them over the workers. Responses name the
// worker (x-lbconf-worker) and the generation (x-lbconf-generation).

interface Reply { status: number; body: string; worker: string; generation: string }

/** One GET on a new connection (no keep-alive): each request may land on any worker. */
function get(port: number, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, worker: String(res.headers['x-lbconf-worker']), generation: String(res.headers['x-lbconf-generation']) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function compiled(source: string) {
  const c = checkText(source, 'test.lbconf');
  if (hasErrors(c.diagnostics)) throw new Error(c.diagnostics.map((d) => d.message).join('\n'));
  const src = planSource(c.ir, c.locs);
  return { plan: loadPlan(src), outcome: { ir: c.ir, source: src } };
}

class Workers {
  readonly launcher: Launcher;
  readonly logs: string[] = [];
  port = 0;

  constructor() {
    // A short heartbeat, so that the hung-worker test does not wait the production 20 s.
    this.launcher = new Launcher({ log: (level, message) => this.logs.push(`${level} ${message}`), exposeGeneration: true, exposeWorker: true, testHooks: true, heartbeatMs: 200, heartbeatTimeoutMs: 3000 });
  }

  async load(source: string): Promise<void> {
    const { plan, outcome } = compiled(source);
    await this.launcher.load(plan, outcome);
  }

  get supervisor() {
    return this.launcher.supervisor!;
  }
}

const running: Workers[] = [];
const backends: Backend[] = [];

async function start(config: (port: number) => string): Promise<Workers> {
  const w = new Workers();
  running.push(w);
  w.port = await freePort();
  await w.load(config(w.port));
  return w;
}

/** A backend that holds every request until release() (or the test ends). */
async function holdingBackend(name: string): Promise<Backend & { release(): void }> {
  const waiting: (() => void)[] = [];
  const b = new Backend(name, (req, res, self) => { waiting.push(() => echoName(req, res, self)); });
  backends.push(b);
  await b.listen();
  return Object.assign(b, { release: () => { for (const f of waiting.splice(0)) f(); } });
}

async function backend(name: string): Promise<Backend> {
  const b = await new Backend(name).listen();
  backends.push(b);
  return b;
}

after(async () => {
  for (const w of running) await w.launcher.close(500);
  for (const b of backends) if (b.server.listening) await b.kill();
});

describe('workers 4', { timeout: 120_000 }, () => {
  test('least_conn is exact across workers: one slow server gets one request at a time, whichever worker picks', async () => {
    const slow = await holdingBackend('slow');
    const fast = [await backend('f1'), await backend('f2')];
    const w = await start((port) => `workers 4;
upstream app { least_conn; server ${slow.address}; server ${fast[0].address}; server ${fast[1].address}; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    assert.equal(w.launcher.workers, 4);
    // One request at a time, each on a new connection: when a pick happens the fast servers have
    // nothing in flight and the slow one has whatever it holds. Exact counts send it one request
    // in all; counts kept per worker would let every worker send it one (up to four).
    const workers = new Set<string>();
    const pending: Promise<Reply>[] = [];
    for (let k = 0; k < 40; k++) {
      const r = get(w.port);
      r.catch(() => {}); // awaited below; a failed assertion must not leave it unhandled
      const arrived = await Promise.race([r.then(() => 'answered'), until(() => slow.requests > pending.length, 2000).then(() => 'held', () => 'answered')]);
      if (arrived === 'held') { pending.push(r); continue; }
      const reply = await r;
      assert.equal(reply.status, 200);
      workers.add(reply.worker);
    }
    assert.ok(workers.size >= 3, `the kernel spread connections over the workers (saw ${[...workers]})`);
    assert.equal(slow.requests, 1, 'the slow server got exactly one request across all workers');
    const peers = w.launcher.runtime.upstreams.get('app')!.peers;
    assert.equal(peers.inflight[0], 1, 'the main thread sees the worker\'s in-flight request');
    slow.release();
    assert.equal((await within(pending[0], 5000, 'the slow reply')).status, 200);
    await until(() => peers.inflight[0] === 0, 2000, 'the count to drop');
  });

  test('in-flight counts are exact across workers: 12 held requests over 3 servers are 4, 4, 4', async () => {
    const held = [await holdingBackend('h0'), await holdingBackend('h1'), await holdingBackend('h2')];
    const w = await start((port) => `workers 4;
upstream app { least_conn; ${held.map((b) => `server ${b.address};`).join(' ')} }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    const replies: Promise<Reply>[] = [];
    for (let k = 0; k < 12; k++) {
      const r = get(w.port);
      r.catch(() => {});
      replies.push(r);
      await until(() => held.reduce((n, b) => n + b.requests, 0) === k + 1, 3000, `request ${k + 1} at a backend`);
    }
    assert.deepEqual(held.map((b) => b.inflight), [4, 4, 4]);
    const peers = w.launcher.runtime.upstreams.get('app')!.peers;
    assert.deepEqual([...peers.inflight], [4, 4, 4], 'the shared counts, read on the main thread');
    assert.equal(peers.totalInflight, 12);
    for (const b of held) b.release();
    const done = await within(Promise.all(replies), 5000, 'the replies');
    assert.ok(done.every((r) => r.status === 200));
    assert.ok(new Set(done.map((r) => r.worker)).size >= 2, 'more than one worker took part');
    await until(() => peers.totalInflight === 0, 2000, 'every count back to 0');
    assert.deepEqual([...peers.inflight], [0, 0, 0]);
  });

  test('limit_req is shared: a burst of 5 admits 6 requests in all, not 6 per worker', async () => {
    const b = await backend('b');
    const w = await start((port) => `workers 4;
limit_req_zone $remote_addr zone=one:1m rate=1r/m;
upstream app { server ${b.address}; }
server { listen 127.0.0.1:${port}; location / { limit_req zone=one burst=5 nodelay; proxy_pass http://app; } }`);
    const statuses: number[] = [];
    const workers = new Set<string>();
    for (let k = 0; k < 24; k++) {
      const r = await get(w.port);
      statuses.push(r.status);
      workers.add(r.worker);
    }
    assert.ok(workers.size >= 3, `several workers answered (saw ${[...workers]})`);
    assert.equal(statuses.filter((s) => s === 200).length, 6);
    assert.equal(statuses.filter((s) => s === 429).length, 18);
    assert.equal(b.requests, 6);
  });

  test('a reload is atomic across workers: every request after it is done gets the new generation', async () => {
    const site = (port: number, text: string, extra = '') => `workers 4;
server { listen 127.0.0.1:${port}; ${extra} location / { return 200 "${text}"; } }`;
    const w = await start((port) => site(port, 'v1'));
    // Requests keep coming while the reload runs.
    let loading = true;
    const during: Reply[] = [];
    const load = (async () => { while (loading) during.push(await get(w.port)); })();
    await new Promise((r) => setTimeout(r, 100));
    await w.load(site(w.port, 'v2'));
    const after: Reply[] = [];
    for (let k = 0; k < 30; k++) after.push(await get(w.port));
    loading = false;
    await load;
    assert.ok(during.length > 0 && during.every((r) => r.status === 200), 'no request failed during the reload');
    assert.ok(after.every((r) => r.body === 'v2' && r.generation === '2'), `after the reload: ${[...new Set(after.map((r) => `${r.worker}:${r.body}`))]}`);
    assert.ok(new Set(after.map((r) => r.worker)).size >= 3);
    assert.deepEqual(w.supervisor.status().map((s) => s.generation), [2, 2, 2, 2]);

    // A Plan one worker cannot serve (a port taken by another process) is served by none.
    const blocker = createServer();
    const taken = await freePort();
    await new Promise<void>((r) => blocker.listen(taken, '127.0.0.1', () => r()));
    try {
      await assert.rejects(w.load(site(w.port, 'v3', `listen 127.0.0.1:${taken};`)), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
    const still: Reply[] = [];
    for (let k = 0; k < 20; k++) still.push(await get(w.port));
    assert.ok(still.every((r) => r.body === 'v2' && r.generation === '2'), 'every worker still serves v2');
    assert.equal(w.launcher.generation, 2);
  });

  test('health checks run on the main thread; every worker follows their verdicts', async () => {
    const good = await backend('good');
    const bad = await backend('bad');
    const w = await start((port) => `workers 4;
upstream app { health_check uri=/ interval=100ms fails=1 passes=1; server ${good.address} max_fails=0; server ${bad.address} max_fails=0; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; proxy_next_upstream off; } }`);
    const seen = new Set<string>();
    for (let k = 0; k < 12; k++) seen.add((await get(w.port)).body.includes('"bad"') ? 'bad' : 'good');
    assert.deepEqual([...seen].sort(), ['bad', 'good']);
    await bad.kill();
    await until(() => w.logs.some((l) => new RegExp(`${bad.address} is unhealthy`).test(l)), 5000, 'the check to fail');
    assert.ok(!w.logs.some((l) => /worker \d: .*unhealthy/.test(l)), 'the verdict comes from the main thread, not a worker');
    const replies: Reply[] = [];
    for (let k = 0; k < 24; k++) replies.push(await get(w.port));
    // No retries and no passive checks: a worker that tried the dead server would answer 502.
    assert.ok(replies.every((r) => r.status === 200 && r.body.includes('"good"')), 'no worker sent a request to the unhealthy server');
    assert.ok(new Set(replies.map((r) => r.worker)).size >= 3);
  });

  test('request counters are summed over the workers on the main thread, across a reload', async () => {
    const b = await backend('b');
    const site = (port: number, extra: string) => `workers 4;
upstream app { server ${b.address}; }
server { listen 127.0.0.1:${port}; ${extra} location / { proxy_pass http://app; } }`;
    const w = await start((port) => site(port, ''));
    const workers = new Set<string>();
    for (let k = 0; k < 20; k++) workers.add((await get(w.port)).worker);
    // A reload that adds a location: slots of the new Plan are numbered alike on every thread.
    await w.load(site(w.port, 'location /other { return 204; }'));
    for (let k = 0; k < 10; k++) workers.add((await get(w.port, '/other')).worker);
    for (let k = 0; k < 10; k++) workers.add((await get(w.port)).worker);
    assert.ok(workers.size >= 3);
    const rt = w.launcher.runtime;
    const scrape = () => exposition({ metrics: rt.metrics, upstreams: rt.upstreams, generation: rt.generation, startedAt: 0 });
    // A request is counted when its response closes on the worker, a moment after the client has read it.
    await until(() => { const t = scrape(); return /^lbconf_http_requests_total\{[^}]*location="\/"[^}]*code="2xx"\} 30$/m.test(t) && /^lbconf_http_requests_total\{[^}]*location="\/other"[^}]*code="2xx"\} 10$/m.test(t); }, 2000, 'the last responses to be counted').catch(() => {});
    const text = scrape();
    const sample = (re: RegExp) => Number(re.exec(text)?.[1]);
    assert.equal(sample(/^lbconf_http_requests_total\{[^}]*location="\/"[^}]*code="2xx"\} (\d+)$/m), 30, text.split('\n').filter((l) => l.startsWith('lbconf_http_requests_total')).join('\n'));
    assert.equal(sample(/^lbconf_http_requests_total\{[^}]*location="\/other"[^}]*code="2xx"\} (\d+)$/m), 10);
    assert.equal(sample(/^lbconf_upstream_requests_total\{[^}]*code="2xx"\} (\d+)$/m), 30);
  });

  test('a worker that stops answering (a synchronous task blocks it) is terminated and restarted; the others serve meanwhile', async () => {
    const b = await backend('b');
    const w = await start((port) => `workers 2;
upstream app { server ${b.address}; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    const restarted = until(() => w.logs.some((l) => /worker 1 restarted/.test(l)), 15_000, 'the hung worker to be restarted');
    w.supervisor.stall(1, 30_000);
    await until(() => w.logs.some((l) => /worker 1 did not answer a heartbeat/.test(l)), 8000, 'the missed heartbeat to be seen');
    await restarted;
    // Both workers serve again: fresh connections reach each of them.
    const seen = new Set<string>();
    for (let k = 0; k < 40 && seen.size < 2; k++) seen.add((await get(w.port)).worker);
    assert.deepEqual([...seen].sort(), ['0', '1']);
  });

  test('a worker that dies mid-request gives back what it held: in-flight counts, and open connections', async () => {
    const slow = await holdingBackend('slow');
    const w = await start((port) => `workers 2;
upstream app { least_conn; server ${slow.address} max_conns=4; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    const peers = () => w.launcher.runtime.upstreams.get('app')!.peers;
    const held = Array.from({ length: 4 }, () => get(w.port).catch(() => null));
    await until(() => slow.inflight === 4, 5000, 'four requests held at the backend');
    assert.equal(peers().inflight[0], 4);
    const restarted = until(() => w.logs.some((l) => /worker 0 restarted/.test(l)), 10_000, 'the restart');
    w.supervisor.crash(0);
    await restarted;
    slow.release();
    await Promise.all(held);
    await until(() => slow.inflight === 0 && peers().inflight[0] === 0, 3000, `the shared in-flight count back to 0 (it is ${peers().inflight[0]})`);
    // max_conns=4 admits four again: none of the dead worker's slots is still taken.
    const again = Array.from({ length: 4 }, () => get(w.port));
    await until(() => slow.inflight === 4, 5000, 'four new requests admitted under max_conns=4');
    slow.release();
    assert.deepEqual((await Promise.all(again)).map((r) => r.status), [200, 200, 200, 200]);
  });

  test('a worker that crashes is restarted; the others keep serving', async () => {
    const b = await backend('b');
    const w = await start((port) => `workers 4;
upstream app { server ${b.address}; }
server { listen 127.0.0.1:${port}; location / { proxy_pass http://app; } }`);
    let loading = true;
    let ok = 0;
    let failed = 0;
    const okAfterCrash = new Set<string>();
    let crashed = false;
    const loop = async () => {
      while (loading) {
        try {
          const r = await get(w.port);
          if (r.status === 200) { ok++; if (crashed) okAfterCrash.add(r.worker); } else failed++;
        } catch {
          failed++;
        }
      }
    };
    const loops = [loop(), loop(), loop(), loop()];
    await until(() => ok > 20, 5000, 'traffic');
    const restarted = until(() => w.logs.some((l) => /worker 2 restarted; serving generation 1/.test(l)), 10_000, 'the restart');
    w.supervisor.crash(2);
    crashed = true;
    await until(() => w.logs.some((l) => /worker 2 exited/.test(l)), 5000, 'the crash to be seen');
    const okAtCrash = ok;
    await restarted;
    await until(() => okAfterCrash.has('2'), 10_000, 'the restarted worker to serve');
    loading = false;
    await Promise.all(loops);
    assert.ok(ok - okAtCrash > 0, 'requests were served while worker 2 was down');
    // Only connections the crashed worker had accepted (at most one per client loop) may fail.
    assert.ok(failed <= 4, `${failed} failed requests`);
    assert.deepEqual(w.supervisor.status().map((s) => [s.generation, s.restarts]), [[1, 0], [1, 0], [1, 1], [1, 0]]);
    assert.ok(w.logs.some((l) => /error worker 2 failed: crash requested by a test/.test(l)));
  });
});
