import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Backend, startBackends, stopAll } from '../helpers/backends.ts';
import { freePort } from '../helpers/proxy.ts';
import { startObserved } from './helpers.ts';

// The status page in headless Chromium (Debian's, at /usr/bin/chromium; .ci/run
// installs it): it renders, follows the live feed, and shows a server whose
// backend died as down without a reload. The screenshot goes to test-output/
// (set LBCONF_SCREENSHOT to write it elsewhere, e.g. docs/status-page.png).

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const certs = join(root, 'spec/tests/certs');

test('the status page shows a server going down, live', { timeout: 60_000, skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, async () => {
  const backends = await startBackends(2);
  const api = new Backend('api', (_req, res) => { setTimeout(() => res.end('{}'), 3); });
  await api.listen();
  const tlsPort = await freePort();
  const o = await startObserved((port) => `
    proxy_cache_zone assets size=16m;
    upstream app { least_busy; server ${backends[0].address}; server ${backends[1].address} weight=2; health_check interval=200ms fails=1 passes=1 timeout=500ms; }
    upstream api { server ${api.address}; }
    server { listen 127.0.0.1:${port}; server_name shop.example;
      location / { proxy_pass http://app; }
      location /api/ { proxy_pass http://api; }
      location /assets/ { proxy_cache assets; proxy_cache_valid 200 1m; proxy_pass http://api; }
    }
    server { listen 127.0.0.1:${tlsPort} ssl; server_name example.com;
      ssl_certificate ${certs}/example.com.pem; ssl_certificate_key ${certs}/example.com.key;
      location / { proxy_pass http://app; }
    }`, { feedIntervalMs: 250 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  // Some traffic, so rates and latencies have something to show.
  let stop = false;
  const traffic = (async () => {
    for (let i = 0; !stop && i < 2000; i++) await Promise.all([o.proxy.get('/'), o.proxy.get('/api/x'), o.proxy.get(`/assets/${i % 20}.css`)]).catch(() => {});
  })();
  try {
    // bypassCSP: the page forbids eval, which Playwright's string predicates use.
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 }, bypassCSP: true });
    await page.goto(o.admin.url + '/');
    const row = (b: Backend) => page.locator(`tr[data-server="app/${b.address}"]`);
    await row(backends[0]).waitFor();
    assert.equal(await row(backends[0]).getAttribute('data-state'), 'up');
    assert.equal(await row(backends[1]).getAttribute('data-state'), 'up');
    assert.match(await page.locator('#listeners').innerText(), new RegExp(`127\\.0\\.0\\.1:${tlsPort}[\\s\\S]*example\\.com[\\s\\S]*expires \\d{4}-\\d\\d-\\d\\d`));
    // Browser-side code as strings: it runs in the page, not in Node.
    await page.waitForFunction("document.querySelector('#live')?.className === 'on'");
    const navigations = "performance.getEntriesByType('navigation').length";
    const loads = await page.evaluate(navigations);

    // The backend dies; the active health check fails; the page shows it down without being reloaded.
    await backends[1].kill();
    await page.waitForSelector(`tr[data-server="app/${backends[1].address}"][data-state="unhealthy"]`, { timeout: 10_000 });
    assert.match(await row(backends[1]).locator('.badge').innerText(), /unhealthy/);
    assert.equal(await row(backends[0]).getAttribute('data-state'), 'up');
    assert.equal(await page.evaluate(navigations), loads, 'the page was not reloaded');
    // A weight set through the admin API shows as runtime state.
    const put = await fetch(`${o.admin.url}/servers/app/${backends[0].address}/weight`, { method: 'PUT', body: '{"weight": 3}' });
    assert.equal(put.status, 200);
    await page.waitForFunction(`/runtime: weight 3/.test(document.querySelector('tr[data-server="app/${backends[0].address}"]')?.textContent ?? '')`);
    // The cache zone, its use and its counts by cache status.
    const zone = page.locator('tr[data-zone="assets"]');
    await page.waitForFunction("Number(document.querySelector('tr[data-zone=\"assets\"] td[data-status=\"hit\"]')?.textContent) > 0", undefined, { timeout: 10_000 });
    assert.equal(await zone.locator('td[data-status="miss"]').innerText(), '20');
    assert.match(await zone.innerText(), /16\.0 MiB/);
    // Let the request rates and p50/p99 of the window fill in before the picture.
    await page.waitForFunction("[...document.querySelectorAll('tr[data-state=\"up\"] td:nth-child(7)')].every((td) => /ms/.test(td.textContent))", undefined, { timeout: 10_000 });

    const out = process.env.LBCONF_SCREENSHOT ?? join(root, 'test-output', 'status-page.png');
    mkdirSync(dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    process.stdout.write(`status page screenshot: ${out}\n`);
  } finally {
    stop = true;
    await traffic;
    await browser.close();
    await o.close();
    await stopAll([...backends, api]);
  }
});
