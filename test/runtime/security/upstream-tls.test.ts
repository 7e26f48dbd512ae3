import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { generate } from 'selfsigned';
import { startProxy } from '../../helpers/proxy.ts';

// `proxy_pass https://…`: the upstream's certificate is verified by default,
// against the system's CAs or `proxy_ssl_trusted_certificate`, for
// `proxy_ssl_name`; `proxy_ssl_certificate` presents a client certificate.

describe('TLS to upstreams', { timeout: 30_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbconf-up-tls-'));
  let server: Server;
  let port: number;

  before(async () => {
    const backend = await generate([{ name: 'commonName', value: 'backend.test' }], { keyType: 'ec', extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'backend.test' }] }] } as never);
    const client = await generate([{ name: 'commonName', value: 'lbconf-client' }], { keyType: 'ec' } as never);
    writeFileSync(join(dir, 'backend.pem'), backend.cert);
    writeFileSync(join(dir, 'client.pem'), client.cert);
    writeFileSync(join(dir, 'client.key'), client.private);
    // The backend asks for a client certificate and says whether it got a trusted one.
    server = createServer({ cert: backend.cert, key: backend.private, requestCert: true, rejectUnauthorized: false, ca: client.cert }, (req, res) => {
      const socket = req.socket as TLSSocket;
      res.end(JSON.stringify({ sni: socket.servername, client: socket.authorized ? socket.getPeerCertificate().subject.CN : null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const site = (upstream: string) => (p: number) => `
    upstream secure {
      server 127.0.0.1:${port} max_fails=0;
${upstream}
    }
    server {
      listen 127.0.0.1:${p};
      proxy_next_upstream off;
      location / { proxy_pass https://secure; }
    }
  `;

  test('verification is on by default: a certificate no CA vouches for gets 502', async () => {
    const p = await startProxy(site(''));
    try {
      assert.equal((await p.get('/')).status, 502);
    } finally {
      await p.close();
    }
  });

  test('proxy_ssl_trusted_certificate and proxy_ssl_name verify it; SNI carries the name', async () => {
    const p = await startProxy(site(`proxy_ssl_trusted_certificate ${join(dir, 'backend.pem')}; proxy_ssl_name backend.test;`));
    try {
      const r = await p.get('/');
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { sni: 'backend.test', client: null });
    } finally {
      await p.close();
    }
  });

  test('the name is checked: a trusted certificate for another name gets 502', async () => {
    const p = await startProxy(site(`proxy_ssl_trusted_certificate ${join(dir, 'backend.pem')}; proxy_ssl_name other.test;`));
    try {
      assert.equal((await p.get('/')).status, 502);
    } finally {
      await p.close();
    }
  });

  test('proxy_ssl_verify off accepts it; proxy_ssl_certificate presents a client certificate', async () => {
    const p = await startProxy(site(`proxy_ssl_verify off; proxy_ssl_certificate ${join(dir, 'client.pem')}; proxy_ssl_certificate_key ${join(dir, 'client.key')};`));
    try {
      const r = await p.get('/');
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).client, 'lbconf-client');
    } finally {
      await p.close();
    }
  });
});
