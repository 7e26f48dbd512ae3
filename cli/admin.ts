import { oneOf, parse, UsageError } from './usage.ts';

// `lbconf status`, `lbconf drain|disable|enable UPSTREAM SERVER`, `lbconf weight
// UPSTREAM SERVER N`, `lbconf purge ZONE KEY`: clients of a running lbconf's
// admin API (`admin` in the config).

const DEFAULT_ADMIN = '127.0.0.1:9901';

const common = `Options:
  --admin ADDR     the admin API: host:port or a URL (default $LBCONF_ADMIN, else ${DEFAULT_ADMIN})
  --token TOKEN    its token, when it has one (default $LBCONF_ADMIN_TOKEN)
  -h, --help       show this help`;

export const statusHelp = `Usage: lbconf status [--admin ADDR] [--token TOKEN] [--format text|json]

Shows a running lbconf: its config generation, its upstreams and servers
(state, weight, requests in flight, requests per second, error rate, p50/p99
latency), and its listeners. Needs \`admin ADDRESS;\` in the config.
Exit status: 0, or 2 when the admin API cannot be reached.

${common}
  --format F       text (default) or json (the admin API's GET /status)`;

export const serverActionHelp = `Usage: lbconf drain|disable|enable UPSTREAM SERVER [--admin ADDR] [--token TOKEN]
       lbconf weight UPSTREAM SERVER N [--admin ADDR] [--token TOKEN]

Changes a server of a running lbconf without editing its config:
  drain    no new requests, except from clients a sticky cookie pins there
  disable  no new requests at all (requests in flight finish)
  enable   back in rotation
  weight   set its weight to N (its configured weight clears the change)
This is runtime state: it is kept across reloads and lost when lbconf
restarts (edit the config to make it permanent). SERVER is host:port as
written in the upstream block. Exit status: 0, 1 when lbconf refused the
change, 2 when the admin API cannot be reached.

${common}`;

export const purgeHelp = `Usage: lbconf purge ZONE KEY [--admin ADDR] [--token TOKEN]
       lbconf purge ZONE --url URL [--admin ADDR] [--token TOKEN]

Removes an entry from a cache zone of a running lbconf, so that the next
request for it goes to the upstream (MISS):
  KEY        every variant stored under this key: the value of the location's
             proxy_cache_key, by default $scheme$authority$request_uri, each
             value followed by a space but the last, so the key of
             http://example.com/a?b=1 is 'http example.com /a?b=1' (quote it)
  --url URL  everything stored for this URL, whatever proxy_cache_key is
Under \`workers N\` every worker removes it from its own zone. Exit status: 0
(also when nothing was stored), 1 when lbconf refused (an unknown zone: it
lists those that exist) or when a worker did not answer in time (purge
again), 2 when the admin API cannot be reached.

${common}
  --url URL        purge by URL instead of KEY`;

interface Target { base: string; token: string | undefined; shown: string }

function target(values: { admin?: string | boolean; token?: string | boolean }): Target {
  const raw = (typeof values.admin === 'string' ? values.admin : process.env.LBCONF_ADMIN) || DEFAULT_ADMIN;
  const base = /^https?:\/\//.test(raw) ? raw.replace(/\/+$/, '') : `http://${raw}`;
  try {
    new URL(base);
  } catch {
    throw new UsageError(`--admin takes host:port or a URL, not '${raw}'`);
  }
  const token = (typeof values.token === 'string' ? values.token : process.env.LBCONF_ADMIN_TOKEN) || undefined;
  return { base, token, shown: raw };
}

class Unreachable extends Error {}

async function call(t: Target, method: 'GET' | 'POST' | 'PUT', path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  let status: number;
  let text: string;
  try {
    // Node's built-in fetch: the CLI needs no HTTP client package. One deadline for the whole exchange.
    const res = await fetch(t.base + path, {
      method,
      headers: { accept: 'application/json', ...(t.token ? { authorization: `Bearer ${t.token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    // fetch fails with a TypeError whose cause is the socket's error (ECONNREFUSED, ...); a timeout is a TimeoutError.
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    const code = e.cause?.code ?? e.code ?? (e.name === 'TimeoutError' ? 'timed out after 10 s' : e.cause?.message ?? e.message);
    throw new Unreachable(`cannot reach the admin API at ${t.base} (${code}). Is lbconf running with \`admin ${t.shown};\` in its config? Point to it with --admin HOST:PORT or LBCONF_ADMIN.`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Unreachable(`${t.base}${path} answered ${status} with something other than JSON: is that lbconf's admin API?`);
  }
  return { status, json };
}

interface ServerStatus { address: string; state: string; backInMs?: number; weight: number; configWeight: number; inflight: number; rps: number; errorRate: number; p50: number | null; p99: number | null; score: number | null; runtime: { mode: string | null; weight: number | null } | null; backup: boolean }
interface StatusBody {
  generation: number; pid: number; uptimeSeconds: number; runtimeNote: string; windowSeconds: number;
  config: { file: string; hash: string; ok: boolean; reloads: number; failures: number } | null;
  upstreams: Array<{ name: string; method: string; servers: ServerStatus[] }>;
  listeners: Array<{ key: string; ssl: boolean; connections: { open: number; accepted: number }; certificates: Array<{ file: string; validTo: string; daysLeft: number; error?: string }> }>;
  caches?: Array<{ zone: string; size: number; bytes: number | null; entries: number | null; perWorker?: unknown[]; requests: Record<string, number>; hitRatio: number | null }>;
  reloads: Array<{ at: number; ok: boolean; reason: string; changes: string; diagnostics: string[]; error: string | null }>;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n');
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const ms = (v: number | null) => (v === null ? '-' : `${v < 10 ? v.toFixed(2) : v.toFixed(0)}ms`);

export function renderStatus(s: StatusBody): string {
  const out: string[] = [];
  const c = s.config;
  out.push(`lbconf pid ${s.pid}, up ${s.uptimeSeconds}s, generation ${s.generation}${c ? `, config ${c.hash} (${c.file})${c.ok ? '' : ', LAST RELOAD REFUSED'}, reloads ${c.reloads} ok / ${c.failures} refused` : ''}`);
  for (const u of s.upstreams) {
    out.push('', `upstream ${u.name} (${u.method})`);
    const rows = [['  server', 'state', 'weight', 'in flight', 'req/s', 'errors', 'p50', 'p99', 'score', 'runtime']];
    for (const v of u.servers) {
      const rt = v.runtime ? [v.runtime.mode, v.runtime.weight !== null ? `weight ${v.runtime.weight}` : null].filter(Boolean).join(', ') : '';
      rows.push([`  ${v.address}${v.backup ? ' (backup)' : ''}`, v.backInMs ? `${v.state} (back in ${Math.ceil(v.backInMs / 1000)}s)` : v.state, String(v.weight), String(v.inflight), v.rps.toFixed(1), `${(v.errorRate * 100).toFixed(1)}%`, ms(v.p50), ms(v.p99), v.score === null ? '-' : String(v.score), rt || '-']);
    }
    out.push(table(rows));
  }
  if (s.upstreams.some((u) => u.servers.some((v) => v.runtime))) out.push('', `runtime: ${s.runtimeNote}.`);
  out.push('', 'listeners');
  for (const l of s.listeners) {
    const certs = l.certificates.map((x) => (x.error ? `${x.file}: ${x.error}` : `certificate expires ${x.validTo.slice(0, 10)} (${x.daysLeft} days)`)).join('; ');
    out.push(`  ${l.key}${l.ssl ? ' ssl' : ''}: ${l.connections.open} open, ${l.connections.accepted} accepted${certs ? `; ${certs}` : ''}`);
  }
  if (s.caches !== undefined && s.caches.length > 0) {
    out.push('', 'caches');
    for (const z of s.caches) {
      const of = z.perWorker ? `${z.perWorker.length} × ${mib(z.size)} (a zone per worker)` : mib(z.size);
      const use = z.bytes === null ? `size ${mib(z.size)} (per worker)` : `${mib(z.bytes)} of ${of}, ${z.entries} entries`;
      const counts = Object.entries(z.requests).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
      out.push(`  ${z.zone}: ${use}${z.hitRatio === null ? '' : `, ${(z.hitRatio * 100).toFixed(1)}% from cache`}${counts ? ` (${counts})` : ''}`);
    }
  }
  const last = s.reloads[0];
  if (last && !last.ok) out.push('', `last reload refused (${last.reason}):`, ...(last.error ? [`  ${last.error}`] : []), ...last.diagnostics.map((d) => `  ${d}`));
  return out.join('\n');
}

const OPTIONS = { admin: { type: 'string' }, token: { type: 'string' } } as const;

export async function runStatus(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { ...OPTIONS, format: { type: 'string' } });
  if (values.help) { out(statusHelp); return 0; }
  if (positionals.length > 0) throw new UsageError('status takes no arguments');
  const format = oneOf(values.format as string | undefined, ['text', 'json'] as const, '--format', 'text');
  const t = target(values);
  try {
    const r = await call(t, 'GET', '/status');
    if (r.status !== 200) { process.stderr.write(`lbconf: the admin API at ${t.base} answered ${r.status}: ${String(r.json.error ?? '')}\n`); return 2; }
    out(format === 'json' ? JSON.stringify(r.json, null, 2) : renderStatus(r.json as unknown as StatusBody));
    return 0;
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    process.stderr.write(`lbconf: ${err.message}\n`);
    return 2;
  }
}

/** `lbconf drain|disable|enable UPSTREAM SERVER` and `lbconf weight UPSTREAM SERVER N`. */
export function serverAction(action: 'drain' | 'disable' | 'enable' | 'weight') {
  return async (argv: string[], out: (s: string) => void): Promise<number> => {
    const { values, positionals } = parse(argv, OPTIONS);
    if (values.help) { out(serverActionHelp); return 0; }
    const want = action === 'weight' ? 3 : 2;
    if (positionals.length !== want) throw new UsageError(action === 'weight' ? 'weight needs UPSTREAM SERVER N' : `${action} needs UPSTREAM SERVER (host:port as written in the upstream block)`);
    const [upstream, server] = positionals;
    if (action === 'weight' && !/^\d+$/.test(positionals[2])) throw new UsageError(`the weight must be a whole number, not '${positionals[2]}'`);
    const t = target(values);
    const path = `/servers/${encodeURIComponent(upstream)}/${encodeURIComponent(server)}/${action}`;
    try {
      const r = action === 'weight' ? await call(t, 'PUT', path, JSON.stringify({ weight: Number(positionals[2]) })) : await call(t, 'POST', path);
      if (r.status !== 200) {
        const known = (r.json.servers ?? r.json.upstreams) as string[] | undefined;
        process.stderr.write(`lbconf: ${String(r.json.error ?? `answered ${r.status}`)}${known ? ` (it has: ${known.join(', ')})` : ''}\n`);
        return r.status === 401 || r.status === 403 ? 2 : 1;
      }
      const j = r.json as { state: string; weight: number };
      out(`${upstream}/${server}: ${j.state}, weight ${j.weight} (runtime state: kept across reloads, lost when lbconf restarts)`);
      return 0;
    } catch (err) {
      if (!(err instanceof Unreachable)) throw err;
      process.stderr.write(`lbconf: ${err.message}\n`);
      return 2;
    }
  };
}

/** `lbconf purge ZONE KEY` and `lbconf purge ZONE --url URL`. */
export async function runPurge(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parse(argv, { ...OPTIONS, url: { type: 'string' } });
  if (values.help) { out(purgeHelp); return 0; }
  const url = values.url as string | undefined;
  if (positionals.length !== (url === undefined ? 2 : 1)) throw new UsageError(url === undefined ? 'purge needs ZONE KEY (or ZONE --url URL)' : 'purge --url URL takes only ZONE besides');
  const [zone, key] = positionals;
  const t = target(values);
  try {
    const r = await call(t, 'POST', `/caches/${encodeURIComponent(zone)}/purge`, JSON.stringify(url === undefined ? { key } : { url }));
    if (r.status !== 200) {
      const zones = r.json.zones as string[] | undefined;
      process.stderr.write(`lbconf: ${String(r.json.error ?? `answered ${r.status}`)}${zones && zones.length > 0 ? ` (it has: ${zones.join(', ')})` : ''}\n`);
      return r.status === 401 || r.status === 403 ? 2 : 1;
    }
    const n = r.json.purged as number;
    const what = url === undefined ? `key ${key}` : url;
    const where = typeof r.json.workers === 'number' ? ` (over ${r.json.workers} workers)` : '';
    out(n > 0 ? `${zone}: purged ${n} ${n === 1 ? 'entry' : 'entries'} for ${what}${where}` : `${zone}: nothing stored for ${what}${where}`);
    return 0;
  } catch (err) {
    if (!(err instanceof Unreachable)) throw err;
    process.stderr.write(`lbconf: ${err.message}\n`);
    return 2;
  }
}
