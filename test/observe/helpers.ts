import { request } from 'undici';
import { ReloadHistory } from '../../runtime/observe/history.ts';
import { startAdmin, type AdminOptions, type AdminServer } from '../../runtime/control/admin.ts';
import { freePort, startProxy, type TestProxy } from '../helpers/proxy.ts';
import type { RuntimeOptions } from '../../runtime/control/runtime.ts';

// A proxy with its admin API on loopback, for the observability tests.

export interface Observed {
  proxy: TestProxy;
  admin: AdminServer;
  close(): Promise<void>;
}

export async function startObserved(config: (port: number) => string, admin: Partial<AdminOptions> = {}, options: RuntimeOptions = {}): Promise<Observed> {
  const proxy = await startProxy(config, options);
  const server = await startAdmin({ target: proxy.rt, history: new ReloadHistory(), address: '127.0.0.1', port: await freePort(), log: (level, message) => { proxy.logs.push({ level, message }); }, ...admin });
  return { proxy, admin: server, close: async () => { await server.close(); await proxy.close(); } };
}

/** GET/POST/PUT on the admin API; the body parsed as JSON when it is. */
export async function api(base: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const res = await request(base + path, { method, body, headers });
  const text = await res.body.text();
  let json: unknown = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.statusCode, json, text };
}

/** The samples of a Prometheus text exposition: `name{labels}` → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

export async function scrape(base: string): Promise<Map<string, number>> {
  const r = await api(base, 'GET', '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.text}`);
  return parseMetrics(r.text);
}
