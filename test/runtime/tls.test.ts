import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type PeerCertificate } from 'node:tls';
import { Agent, request } from 'undici';
import { checkFile } from '../../compiler/check.ts';
import { compilePlan } from '../../compiler/plan.ts';
import { Reloader } from '../../runtime/control/reload.ts';
import { ProxyRuntime } from '../../runtime/control/runtime.ts';
import { startBackends, stopAll, type Backend } from '../helpers/backends.ts';
import { selfSigned } from '../helpers/certs.ts';
import { freePort } from '../helpers/proxy.ts';

// TLS termination with certificates made at test time, real TLS clients
// (undici over HTTP/1.1 and HTTP/2, node:tls, openssl s_client), SNI, protocol
// limits, redirects and certificate reload.

let dir: string;
let backend: Backend;
let tlsPort: number;
let plainPort: number;
const pem: Record<string, { cert: string; key: string }> = {};

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbconf-tls-'));
  for (const name of ['a.test', 'b.test']) {
    pem[name] = await selfSigned(name);
    writeFileSync(join(dir, `${name}.pem`), pem[name].cert);
    writeFileSync(join(dir, `${name}.key`), pem[name].key);
  }
  [backend] = await startBackends(1);
  tlsPort = await freePort();
  plainPort = await freePort();
});

after(async () => {
  await stopAll([backend]);
  rmSync(dir, { recursive: true, force: true });
});

const config = (extra = '') => `upstream app {
    server ${backend.address};
}

server {
    listen 127.0.0.1:${tlsPort} ssl default_server;
    server_name a.test;
    ssl_certificate a.test.pem;
    ssl_certificate_key a.test.key;
${extra}
    location / {
        proxy_pass http://app;
    }
}

server {
    listen 127.0.0.1:${tlsPort} ssl;
    server_name b.test;
    ssl_certificate b.test.pem;
    ssl_certificate_key b.test.key;

    location / {
        return 200 "b over $scheme";
    }
}

server {
    listen 127.0.0.1:${plainPort};
    return 301 https://$host$request_uri;
}
`;

async function start(text = config()) {
  const file = join(dir, 'site.lbconf');
  writeFileSync(file, text);
  const check = checkFile(file);
  assert.deepEqual(check.diagnostics.map((d) => d.message), []);
  const runtime = new ProxyRuntime();
  await runtime.load(compilePlan(check).plan);
  return runtime;
}

/** The certificate a client naming `servername` is given, and the protocol agreed. */
function handshake(servername: string | null, options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2'; alpn?: string[] } = {}): Promise<{ subject: string; protocol: string | null; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false, ...(servername ? { servername } : {}), ALPNProtocols: options.alpn, maxVersion: options.maxVersion, minVersion: options.minVersion }, () => {
      const cert = socket.getPeerCertificate() as PeerCertificate;
      resolve({ subject: cert.subject.CN as string, protocol: socket.getProtocol(), alpn: socket.alpnProtocol });
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('SNI chooses the certificate of the server block named; no SNI gets the default server\'s', async () => {
  const runtime = await start();
  assert.equal((await handshake('a.test')).subject, 'a.test');
  assert.equal((await handshake('b.test')).subject, 'b.test');
  assert.equal((await handshake('unknown.test')).subject, 'a.test');
  assert.equal((await handshake(null)).subject, 'a.test');
  await runtime.close(200);
});

test('TLS 1.2 and 1.3 only by default; ssl_protocols narrows it', async () => {
  let runtime = await start();
  assert.equal((await handshake('a.test', { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  assert.equal((await handshake('a.test')).protocol, 'TLSv1.3');
  await assert.rejects(handshake('a.test', { maxVersion: 'TLSv1.1' as never, minVersion: 'TLSv1' }));
  await runtime.close(200);
  runtime = await start(config().replace('ssl_certificate a.test.pem;', 'ssl_certificate a.test.pem;\n    ssl_protocols TLSv1.3;'));
  await assert.rejects(handshake('a.test', { maxVersion: 'TLSv1.2' }));
  assert.equal((await handshake('a.test')).protocol, 'TLSv1.3');
  await runtime.close(200);
});

test('ALPN offers HTTP/2 and HTTP/1.1; both proxy, with X-Forwarded-Proto https', async () => {
  const runtime = await start();
  assert.equal((await handshake('a.test', { alpn: ['h2', 'http/1.1'] })).alpn, 'h2');
  assert.equal((await handshake('a.test', { alpn: ['http/1.1'] })).alpn, 'http/1.1');
  for (const allowH2 of [false, true]) {
    const agent = new Agent({ allowH2, connect: { rejectUnauthorized: false, servername: 'a.test' } });
    const res = await request(`https://127.0.0.1:${tlsPort}/path?x=1`, { dispatcher: agent, headers: { 'x-client': 'yes' } });
    const body = (await res.body.json()) as { url: string; headers: Record<string, string> };
    assert.equal(res.statusCode, 200);
    assert.equal(body.url, '/path?x=1');
    assert.equal(body.headers['x-forwarded-proto'], 'https');
    assert.equal(body.headers['x-client'], 'yes');
    assert.equal(Object.keys(body.headers).some((h) => h.startsWith(':')), false, 'no HTTP/2 pseudo-header goes upstream');
    const b = await request(`https://127.0.0.1:${tlsPort}/`, { dispatcher: new Agent({ allowH2, connect: { rejectUnauthorized: false, servername: 'b.test' } }), headers: { host: 'b.test' } });
    assert.equal(await b.body.text(), 'b over https');
    await agent.close();
  }
  await runtime.close(200);
});

test('return 301 https://$host$request_uri redirects plain HTTP to HTTPS', async () => {
  const runtime = await start();
  const res = await request(`http://127.0.0.1:${plainPort}/a/b?c=d`, { headers: { host: 'a.test:8080' } });
  assert.equal(res.statusCode, 301);
  assert.equal(res.headers.location, 'https://a.test/a/b?c=d');
  await res.body.dump();
  await runtime.close(200);
});

test('openssl s_client sees the certificate chosen by SNI and TLS 1.3', { skip: spawnSync('openssl', ['version']).status !== 0 ? 'openssl is not installed' : false }, async () => {
  const runtime = await start();
  try {
    // Asynchronous: the server answering is in this process.
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', 'b.test', '-brief'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.stdin.end();
    const timer = setTimeout(() => child.kill(), 10_000);
    await once(child, 'close');
    clearTimeout(timer);
    assert.match(out, /Protocol version: TLSv1\.3/);
    assert.match(out, /CN ?= ?b\.test/);
  } finally {
    await runtime.close(200);
  }
});

test('a renewed certificate file is picked up without a restart; an unusable one is refused and the old one kept', async () => {
  const file = join(dir, 'reload.lbconf');
  writeFileSync(file, config());
  const runtime = new ProxyRuntime();
  const lines: string[] = [];
  const reloader = new Reloader(file, runtime, { log: (_l, m) => lines.push(m), report: () => {}, debounceMs: 20 });
  await reloader.start();
  const before = await handshake('a.test');
  assert.equal(before.subject, 'a.test');
  // Renew: a new certificate for the same name, a different serial.
  const fingerprint = () => new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: tlsPort, servername: 'a.test', rejectUnauthorized: false }, () => { resolve(s.getPeerCertificate().fingerprint256); s.end(); });
    s.on('error', reject);
  });
  const old = await fingerprint();
  const renewed = await selfSigned('a.test');
  await new Promise((r) => setTimeout(r, 150));
  writeFileSync(join(dir, 'a.test.key'), renewed.key);
  writeFileSync(join(dir, 'a.test.pem'), renewed.cert);
  const deadline = Date.now() + 5000;
  while ((await fingerprint()) === old) {
    if (Date.now() > deadline) throw new Error(`the certificate was not reloaded:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // A broken certificate file: the reload fails, the renewed certificate stays.
  const current = await fingerprint();
  writeFileSync(join(dir, 'a.test.pem'), 'not a certificate');
  const result = await reloader.reload('test');
  assert.equal(result.ok, false);
  assert.equal(await fingerprint(), current);
  writeFileSync(join(dir, 'a.test.pem'), pem['a.test'].cert);
  writeFileSync(join(dir, 'a.test.key'), pem['a.test'].key);
  await reloader.close();
  await runtime.close(200);
});
