import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminTokenIR, ConfigIR } from '../../compiler/ir.ts';
import type { PurgeTarget } from '../filters/cache/zones.ts';
import type { ReloadResult } from './reload.ts';
import { PURGE_TIMEOUT_MS } from '../worker/protocol.ts';
import type { LogFn } from '../observe/error-log.ts';
import { exposition } from './exposition.ts';
import type { ReloadHistory } from '../observe/history.ts';
import { OverrideError } from '../upstream/overrides.ts';
import { buildStatus, cacheZonesStatus, Sampler, type AdminTarget, type ReloaderView } from './status.ts';
import { STATUS_PAGE } from './status-page.ts';

/** Bytes of status events a live feed may have waiting before it is closed (its reader stopped reading). */
const MAX_FEED_BACKLOG = 1024 * 1024;

// The admin API (spec/operations.md): status, config dump, reload, drain /
// disable / enable / weight of a server, Prometheus metrics, the status page
// and its live feed. It runs in the process that owns the config (the main
// thread under workers), on its own listener, loopback unless a token is set.

export interface AdminReloader extends ReloaderView {
  readonly config: ConfigIR | null;
  reload(reason: string): Promise<ReloadResult>;
}

export interface AdminOptions {
  target: AdminTarget;
  /** Null: POST /reload answers 501 (a runtime started without a config file, as in tests). */
  reloader?: AdminReloader | null;
  history: ReloadHistory;
  address: string;
  port: number;
  /** The bearer token clients must send; null for none (loopback only: the config check refuses otherwise). */
  token?: string | null;
  log?: LogFn;
  /** When this lbconf started (for uptime). */
  startedAt?: number;
  /** How often the live feed sends the status (ms). */
  feedIntervalMs?: number;
}

export class AdminTokenError extends Error {}

/** The token an `admin token=` names: read from the environment or a file now. */
export function resolveToken(token: AdminTokenIR | null, env: NodeJS.ProcessEnv = process.env): string | null {
  if (token === null) return null;
  if (token.kind === 'literal') return token.value;
  if (token.kind === 'env') {
    const v = env[token.name]?.trim();
    if (!v) throw new AdminTokenError(`admin token: the environment variable ${token.name} is not set or empty; set it before starting lbconf, or use token=file:PATH`);
    return v;
  }
  let text: string;
  try {
    text = readFileSync(token.path, 'utf8').trim();
  } catch (err) {
    throw new AdminTokenError(`admin token: cannot read ${token.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; create it with the token on one line, or use token=env:NAME`);
  }
  if (!text) throw new AdminTokenError(`admin token: ${token.path} is empty; write the token in it`);
  return text;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

const REDACTED = '[redacted]';
const SECRET_HEADER = /auth|cookie|token|secret|key|pass/i;

/** A copy of the IR without secrets: sticky secrets, a literal admin token, and header values that look like credentials. */
export function redactConfig(ir: ConfigIR): unknown {
  return JSON.parse(JSON.stringify(ir), function (this: Record<string, unknown>, key: string, value: unknown) {
    if (key === 'secret' && typeof value === 'string') return REDACTED;
    if (key === 'token' && value && typeof value === 'object' && (value as AdminTokenIR).kind === 'literal') return { kind: 'literal', value: REDACTED };
    if (key === 'value' && typeof this.name === 'string' && SECRET_HEADER.test(this.name)) return [REDACTED];
    return value;
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function problem(res: ServerResponse, status: number, error: string, extra: Record<string, unknown> = {}): void {
  json(res, status, { error, ...extra });
}

async function readBody(req: IncomingMessage, max = 4096): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new OverrideError(413, `request body over ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const LOOPBACK_HOST = /^(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?::\d+)?$/i;

export class AdminServer {
  private readonly options: AdminOptions;
  private readonly server: Server;
  private readonly sampler: Sampler;
  private readonly timer: NodeJS.Timeout;
  private readonly feeds = new Set<ServerResponse>();
  private readonly tokenDigest: Buffer | null;
  private readonly startedAt: number;

  constructor(options: AdminOptions) {
    this.options = options;
    this.startedAt = options.startedAt ?? Date.now();
    this.tokenDigest = options.token ? digest(options.token) : null;
    this.sampler = new Sampler(options.target.metrics);
    this.sampler.sample();
    this.timer = setInterval(() => this.tick(), options.feedIntervalMs ?? 1000);
    this.timer.unref();
    this.server = createServer((req, res) => { void this.handle(req, res).catch((err) => this.internalError(res, err)); });
    this.server.keepAliveTimeout = 5000;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.address, () => { this.server.off('error', reject); resolve(); });
    });
    this.server.on('error', (err) => this.options.log?.('error', `admin API: ${err.message}`));
    return this;
  }

  /** `http://address:port`, as bound. */
  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const f of this.feeds) f.end();
    this.feeds.clear();
    await new Promise<void>((resolve) => { this.server.close(() => resolve()); this.server.closeAllConnections(); });
  }

  private tick(): void {
    this.sampler.sample();
    if (this.feeds.size === 0) return;
    const data = `data: ${JSON.stringify(this.status())}\n\n`;
    for (const f of this.feeds) {
      // A reader that stopped reading is dropped rather than queued for without bound.
      if (f.writableLength > MAX_FEED_BACKLOG) { f.destroy(); continue; }
      f.write(data);
    }
  }

  private status() {
    return buildStatus(this.options.target, this.sampler, this.options.reloader ?? null, this.options.history, this.startedAt);
  }

  private internalError(res: ServerResponse, err: unknown): void {
    if (err instanceof OverrideError) { if (!res.headersSent) problem(res, err.status, err.message); return; }
    this.options.log?.('error', `admin API: ${(err as Error).message}`);
    if (!res.headersSent) problem(res, 500, `internal error: ${(err as Error).message}`);
    else res.destroy();
  }

  /** Token, and protection against web pages that reach a loopback admin through the browser of someone on this machine. */
  private allowed(req: IncomingMessage, url: URL, res: ServerResponse): boolean {
    if (this.tokenDigest !== null) {
      const h = req.headers.authorization;
      // `?token=` only for reading (the status page in a browser, which cannot set a header):
      // a URL ends up in histories and logs, so changes need the header.
      const given = h?.startsWith('Bearer ') ? h.slice(7).trim() : req.method === 'GET' || req.method === 'HEAD' ? url.searchParams.get('token') : null;
      if (!given || !timingSafeEqual(digest(given), this.tokenDigest)) {
        res.setHeader('www-authenticate', 'Bearer realm="lbconf admin"');
        problem(res, 401, 'this admin API needs a token: send `Authorization: Bearer TOKEN` (lbconf status --token TOKEN, or LBCONF_ADMIN_TOKEN)');
        return false;
      }
    } else if (!LOOPBACK_HOST.test(req.headers.host ?? '')) {
      // DNS rebinding: a page whose name resolves to 127.0.0.1 must not read or drive the API.
      problem(res, 403, `the admin API without a token answers only to a loopback Host (got ${JSON.stringify(req.headers.host ?? '')}); use http://127.0.0.1:${this.options.port}/`);
      return false;
    }
    // A cross-site form or fetch in a browser carries the page's Origin: changes come from the CLI, curl, or this API's own page.
    const origin = req.headers.origin;
    if (req.method !== 'GET' && req.method !== 'HEAD' && origin !== undefined && origin !== `http://${req.headers.host}`) {
      problem(res, 403, `cross-origin ${req.method} refused (Origin ${origin})`);
      return false;
    }
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (!this.allowed(req, url, res)) return;
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(STATUS_PAGE), 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'" });
      res.end(STATUS_PAGE);
      return;
    }
    if (method === 'GET' && path === '/status') { json(res, 200, this.status()); return; }
    if (method === 'GET' && path === '/status/stream') { this.feed(res); return; }
    if (method === 'GET' && path === '/metrics') {
      const t = this.options.target;
      const body = exposition({ metrics: t.metrics, upstreams: t.upstreams, generation: t.generation, caches: cacheZonesStatus(t), reload: this.options.reloader?.status ?? null, startedAt: this.startedAt });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (method === 'GET' && path === '/config') {
      const ir = this.options.reloader?.config;
      if (!ir) { problem(res, 404, 'no config file: this lbconf was not started with one'); return; }
      json(res, 200, redactConfig(ir));
      return;
    }
    if (method === 'POST' && path === '/reload') { await this.reload(res); return; }
    const m = /^\/servers\/([^/]+)\/([^/]+)\/(drain|disable|enable|weight)$/.exec(path);
    if (m) {
      const action = m[3];
      if ((action === 'weight') !== (method === 'PUT') || (method !== 'POST' && method !== 'PUT')) {
        problem(res, 405, action === 'weight' ? 'set a weight with PUT /servers/UPSTREAM/SERVER/weight and a body like {"weight": 3}' : `use POST /servers/UPSTREAM/SERVER/${action}`);
        return;
      }
      await this.server_(req, res, decodeURIComponent(m[1]), decodeURIComponent(m[2]), action);
      return;
    }
    if (method === 'GET' && path === '/caches') { json(res, 200, cacheZonesStatus(this.options.target)); return; }
    const c = /^\/caches\/([^/]+)\/purge$/.exec(path);
    if (c) {
      if (method !== 'POST') { problem(res, 405, 'purge with POST /caches/ZONE/purge and a body like {"key": "KEY"} or {"url": "http://host/path"}'); return; }
      await this.purge(req, res, decodeURIComponent(c[1]));
      return;
    }
    problem(res, 404, `no such endpoint: ${method} ${path}`, {
      endpoints: ['GET /', 'GET /status', 'GET /status/stream', 'GET /metrics', 'GET /config', 'POST /reload', 'POST /servers/UPSTREAM/SERVER/drain|disable|enable', 'PUT /servers/UPSTREAM/SERVER/weight', 'GET /caches', 'POST /caches/ZONE/purge'],
    });
  }

  private feed(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 2000\ndata: ${JSON.stringify(this.status())}\n\n`);
    this.feeds.add(res);
    res.on('close', () => this.feeds.delete(res));
  }

  private async reload(res: ServerResponse): Promise<void> {
    const r = this.options.reloader;
    if (!r) { problem(res, 501, 'this lbconf was not started from a config file: nothing to reload'); return; }
    const result = await r.reload('admin API');
    json(res, result.ok ? 200 : 422, {
      ok: result.ok,
      generation: this.options.target.generation,
      changes: result.changes,
      error: result.error ?? null,
      diagnostics: result.diagnostics.map((d) => ({ file: d.span.file, line: d.span.start.line, column: d.span.start.column, severity: d.severity, code: d.code, message: d.message, ...(d.hint ? { hint: d.hint } : {}) })),
    });
  }

  private async purge(req: IncomingMessage, res: ServerResponse, zone: string): Promise<void> {
    const t = this.options.target;
    const zones = t.cacheZones;
    if (zones?.store(zone) === undefined) {
      const known = zones?.names() ?? [];
      problem(res, 404, `no cache zone \`${zone}\` in the running config${known.length > 0 ? '' : ' (it has none: proxy_cache_zone declares one)'}`, { zones: known });
      return;
    }
    const what = purgeTarget(await readBody(req));
    const shown = `purge ${zone} ${'key' in what ? `key ${what.key}` : `url ${what.url}`}`;
    if (!t.purgeWorkers) {
      const purged = zones!.remove(zone, what);
      this.options.log?.('info', `admin API: ${shown}: ${purged} ${purged === 1 ? 'entry' : 'entries'} removed`, { event: 'admin', action: 'purge', zone, ...what, purged });
      json(res, 200, { zone, ...what, purged });
      return;
    }
    // Under workers each worker keeps its own zones: each removes from its own, and the counts add up.
    const { purged, workers, answered, silent } = await t.purgeWorkers(zone, what);
    const removed = `${purged} ${purged === 1 ? 'entry' : 'entries'} removed over ${answered} of ${workers} workers`;
    this.options.log?.(silent.length > 0 ? 'warn' : 'info', `admin API: ${shown}: ${removed}`, { event: 'admin', action: 'purge', zone, ...what, purged, workers, answered });
    if (silent.length === 0) { json(res, 200, { zone, ...what, purged, workers, answered }); return; }
    problem(res, 504, `${removed}: ${silent.length === 1 ? 'worker' : 'workers'} ${silent.join(', ')} did not answer within ${PURGE_TIMEOUT_MS / 1000} s (busy, or restarting) and may still hold what was purged; purge again`, { zone, ...what, purged, workers, answered });
  }

  private async server_(req: IncomingMessage, res: ServerResponse, upstream: string, server: string, action: string): Promise<void> {
    const u = this.options.target.upstreams.get(upstream);
    if (!u) { problem(res, 404, `no upstream \`${upstream}\` in the running config`, { upstreams: [...this.options.target.upstreams.keys()] }); return; }
    const i = u.peers.indexOf(`${upstream}/${server}`);
    if (i < 0) { problem(res, 404, `upstream \`${upstream}\` has no server \`${server}\``, { servers: u.ir.servers.map((s) => s.address) }); return; }
    if (action === 'weight') {
      const body = (await readBody(req)).trim();
      let weight: number;
      try {
        const parsed: unknown = body.startsWith('{') ? (JSON.parse(body) as { weight?: unknown }).weight : Number(body);
        weight = typeof parsed === 'number' ? parsed : Number.NaN;
      } catch {
        weight = Number.NaN;
      }
      u.overrides.weight(i, weight);
    } else {
      u.overrides.set(i, action as 'drain' | 'disable' | 'enable');
    }
    const o = u.overrides.of(i);
    this.options.log?.('info', `admin API: ${action} ${upstream}/${server}${action === 'weight' ? ` to ${u.peers.weight[i]}` : ''} (runtime state, lost on restart)`, { event: 'admin', action, upstream, server });
    const status = this.status().upstreams.find((x) => x.name === upstream)!.servers[i];
    json(res, 200, { upstream, server, state: status.state, weight: status.weight, runtime: o ? { mode: o.mode, weight: o.weight } : null, note: 'runtime state: kept across reloads, lost when lbconf restarts' });
  }
}

const PURGE_BODY = 'send {"key": "KEY"} (the proxy_cache_key value, by default $scheme$authority$request_uri, each value followed by a space but the last, as in "http example.com /a?b=1") or {"url": "http://example.com/a?b=1"}';

function purgeTarget(body: string): PurgeTarget {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new OverrideError(400, `the body is not JSON: ${PURGE_BODY}`);
  }
  const o = (parsed ?? {}) as { key?: unknown; url?: unknown };
  if (typeof o.key === 'string' && o.key !== '' && o.url === undefined) return { key: o.key };
  if (typeof o.url === 'string' && o.key === undefined) {
    if (!/^https?:\/\/[^/]/i.test(o.url) || !URL.canParse(o.url)) throw new OverrideError(400, `"url" must be an absolute http:// or https:// URL, not ${JSON.stringify(o.url)}`);
    return { url: o.url };
  }
  throw new OverrideError(400, `say what to purge: ${PURGE_BODY}`);
}

/** Starts the admin API (call it in the process that owns the config: the main thread under workers). */
export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  return new AdminServer(options).listen();
}
