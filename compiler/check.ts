import type { ConfigFile, Span } from '../lang/ast.ts';
import { compareDiagnostics, type Diagnostic } from '../lang/diagnostic.ts';
import { loadConfig, loadConfigText, nodeHost, type ConfigHost, type LoadedConfig } from '../lang/include.ts';
import { checkListeners } from './checks/listeners.ts';
import { checkLocations } from './checks/locations.ts';
import { checkReferences } from './checks/references.ts';
import { checkRegexes } from './checks/regex.ts';
import { checkAuth } from './checks/auth.ts';
import { checkHeaders } from './checks/headers.ts';
import { checkCache } from './checks/cache.ts';
import { checkTls } from './checks/tls.ts';
import { checkUpstreams } from './checks/upstreams.ts';
import type { Check } from './checks/check.ts';
import type { ConfigIR } from './ir.ts';
import { lower, type SourceRef } from './lower.ts';
import { validateSchema } from './validate.ts';

// Text → validated IR with every diagnostic. Touches no network and reads only
// the config files themselves: no DNS, no ports, no certificate files.

export interface CheckResult {
  ir: ConfigIR;
  locs: Map<string, SourceRef>;
  diagnostics: Diagnostic[];
  /** Every file read, the entry first. */
  files: ConfigFile[];
}

const CHECKS: Check[] = [checkReferences, checkListeners, checkLocations, checkRegexes, checkUpstreams, checkTls, checkAuth, checkCache, checkHeaders];

export function checkLoaded(loaded: LoadedConfig): CheckResult {
  const entry = loaded.files[0];
  const fallback: Span = { file: entry?.file ?? '', start: { line: 1, column: 1, offset: 0 }, end: { line: 1, column: 1, offset: 0 } };
  const { ir, locs, diagnostics, tainted, unread } = lower(loaded.directives);
  ir.servers.forEach((server, i) => {
    // nginx's defaults: a server with no `listen` listens on port 80, with no name on "".
    if (server.listen.length === 0) server.listen.push({ address: '*', port: 80, defaultServer: false, ssl: false });
    if (server.serverNames.length === 0) server.serverNames.push('');
    if (!locs.has(`/servers/${i}/listen/0`)) locs.set(`/servers/${i}/listen/0`, locs.get(`/servers/${i}`)!);
  });
  const all = [...loaded.diagnostics, ...diagnostics, ...validateSchema(ir, locs, fallback, tainted)];
  // Lowering always builds a well-shaped IR (the schema only rejects values out
  // of range), so the semantic checks run even then: one run, every mistake.
  const input = { ir, locs, fallback, tainted, unread };
  for (const check of CHECKS) all.push(...check(input));
  // An empty file (or settings only) that is otherwise fine: `run` would listen nowhere, and a reload to it is
  // refused. A file of upstreams alone is taken for a fragment to include; a file in error says enough already.
  if (ir.servers.length === 0 && ir.upstreams.length === 0 && !all.some((d) => d.severity === 'error')) {
    all.push({ severity: 'warning', code: 'no-listener', message: 'no server block: lbconf would listen on no port and serve nothing', span: fallback, hint: 'add a server block, as in `server { listen 8080; location / { proxy_pass http://app; } }`' });
  }
  return { ir, locs, diagnostics: dedupe(all).sort(compareDiagnostics), files: loaded.files };
}

function dedupe(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const key = `${d.code}|${d.span.file}|${d.span.start.offset}|${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Checks a config file and everything it includes. Throws UnreadableFileError when the file itself cannot be read. */
export function checkFile(path: string, host: ConfigHost = nodeHost): CheckResult {
  return checkLoaded(loadConfig(path, host));
}

export function checkText(source: string, path: string, host: ConfigHost = nodeHost): CheckResult {
  return checkLoaded(loadConfigText(source, path, host));
}
