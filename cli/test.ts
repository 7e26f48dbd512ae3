import { readFileSync } from 'node:fs';
import { UnreadableFileError } from '../lang/include.ts';
import { decide, loadConfigForRouting, type Decision, type Loaded } from './route.ts';
import { parse, UsageError } from './usage.ts';

export const testHelp = `Usage: lbconf test [options] CONFIG TESTS...

Runs route tests: plain-text files of requests, each with the route it must
reach, e.g.

    # comments and blank lines are ignored
    GET http://shop.example/images/a.png -> location "~* \\.(png|jpg)$" upstream images
    http://shop.example/old -> return 301
    GET http://shop.example/%2e%2e/x -> status 400

Expectations: server NAME, location "TEXT" (or location none), upstream NAME,
return CODE, status CODE. All that are written must hold. See spec/routing.md.

Options:
  --coverage   also list the locations and server blocks no test reached
  -h, --help   show this help

Exit status: 0 all tests pass, 1 a test fails (or the config or a test file
has errors), 2 usage error or unreadable file.`;

export type Expectation =
  | { kind: 'server'; name: string }
  | { kind: 'location'; modifier: string; path: string; none: boolean }
  | { kind: 'upstream'; name: string }
  | { kind: 'return'; status: number }
  | { kind: 'status'; status: number };

export interface RouteTest {
  file: string;
  line: number;
  method: string;
  url: string;
  /** `ADDR:PORT`, from `via ADDR:PORT`. */
  listen?: string;
  expect: Expectation[];
  /** The expectation as written, for messages. */
  expectText: string;
}

export interface TestFileError {
  file: string;
  line: number;
  message: string;
}

const METHOD = /^[A-Z]+$/;
const STATUS = /^[1-5][0-9][0-9]$/;

/** Splits on whitespace, keeping "quoted strings" (with \" for a quote; other backslashes are literal) as one token. */
function tokens(text: string): Array<{ value: string; quoted: boolean }> | string {
  const out: Array<{ value: string; quoted: boolean }> = [];
  let i = 0;
  while (i < text.length) {
    if (/\s/.test(text[i])) { i++; continue; }
    if (text[i] === '"') {
      let value = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && text[i + 1] === '"') { value += '"'; i += 2; continue; }
        value += text[i++];
      }
      if (i >= text.length) return 'a quoted string is not closed';
      i++;
      out.push({ value, quoted: true });
      continue;
    }
    let value = '';
    while (i < text.length && !/\s/.test(text[i])) value += text[i++];
    out.push({ value, quoted: false });
  }
  return out;
}

const MODIFIERS = ['=', '^~', '~', '~*'];

/** `= /x`, `~* \.png$`, `/a` → modifier and path. */
export function splitLocation(text: string): { modifier: string; path: string } {
  const m = /^(=|\^~|~\*|~)\s*(.*)$/s.exec(text.trim());
  return m ? { modifier: m[1], path: m[2] } : { modifier: '', path: text.trim() };
}

export function parseRouteTests(source: string, file: string): { tests: RouteTest[]; errors: TestFileError[] } {
  const tests: RouteTest[] = [];
  const errors: TestFileError[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const text = raw.trim();
    if (text === '' || text.startsWith('#')) return;
    const fail = (message: string) => errors.push({ file, line, message });
    const arrow = text.indexOf(' -> ');
    if (arrow < 0) return fail('expected `REQUEST -> EXPECTATION`, as in `GET http://example.com/ -> upstream app`');
    const request = text.slice(0, arrow).trim().split(/\s+/);
    let method = 'GET';
    if (request.length > 1 && METHOD.test(request[0])) method = request.shift()!;
    const url = request.shift();
    if (url === undefined || !(/^https?:\/\//i.test(url) || url.startsWith('/'))) return fail(`expected a URL such as http://example.com/path, not \`${url ?? ''}\``);
    let listen: string | undefined;
    if (request[0] === 'via') {
      listen = request[1];
      if (listen === undefined || !/^(\*|[0-9.]+|\[[0-9a-fA-F:.]+\]):\d+$/.test(listen)) return fail('`via` takes ADDR:PORT, as in `via 127.0.0.1:8080`');
      request.splice(0, 2);
    }
    if (request.length > 0) return fail(`unexpected \`${request[0]}\` after the URL`);
    const expectText = text.slice(arrow + 4).trim();
    const toks = tokens(expectText);
    if (typeof toks === 'string') return fail(toks);
    if (toks.length === 0) return fail('nothing is expected after `->`');
    const expect: Expectation[] = [];
    for (let k = 0; k < toks.length; k++) {
      const word = toks[k].value;
      const arg = toks[k + 1];
      if (toks[k].quoted) return fail(`expected server, location, upstream, return or status, not "${word}"`);
      if (arg === undefined) return fail(`\`${word}\` needs a value`);
      k++;
      switch (word) {
        case 'server': expect.push({ kind: 'server', name: arg.value.toLowerCase() }); break;
        case 'upstream': expect.push({ kind: 'upstream', name: arg.value }); break;
        case 'location': {
          if (!arg.quoted && arg.value === 'none') { expect.push({ kind: 'location', modifier: '', path: '', none: true }); break; }
          let text = arg.value;
          // Unquoted, a modifier and its path are two words: `location = /x`.
          if (!arg.quoted && MODIFIERS.includes(text) && toks[k + 1] !== undefined) text += ' ' + toks[++k].value;
          expect.push({ kind: 'location', ...splitLocation(text), none: false });
          break;
        }
        case 'return':
        case 'status':
          if (!STATUS.test(arg.value)) return fail(`\`${word}\` takes a status code such as 301, not \`${arg.value}\``);
          expect.push({ kind: word, status: Number(arg.value) });
          break;
        default:
          return fail(`expected server, location, upstream, return or status, not \`${word}\``);
      }
    }
    tests.push({ file, line, method, url, listen, expect, expectText });
  });
  return { tests, errors };
}

export interface TestResult {
  test: RouteTest;
  decision: Decision | null;
  /** Empty when the test passes. */
  failure: string;
}

const quote = (s: string) => `"${s.replaceAll('"', '\\"')}"`;

/** What was reached, in the words of the expectation. */
function actual(e: Expectation, d: Decision, loaded: Loaded): string {
  if (!d.path.ok) return `status 400 (${d.path.error})`;
  const r = d.route!;
  switch (e.kind) {
    case 'server': {
      const s = loaded.model.servers[r.server];
      const src = s.source ? ` at ${s.source.file}:${s.source.line}` : '';
      return `server ${s.names.map((n) => (n === '' ? '""' : n)).join(' ')}${src}`;
    }
    case 'location':
      return r.text ? `location ${quote(r.text.slice('location '.length))} at ${r.source?.file}:${r.source?.line}` : 'location none';
    case 'upstream':
      return r.kind === 'proxy' ? `upstream ${r.upstream}` : r.kind === 'return' ? `return ${r.status}` : 'no upstream (404)';
    case 'return':
      return r.kind === 'return' ? `return ${r.status}` : r.kind === 'proxy' ? `upstream ${r.upstream}` : 'status 404';
    case 'status':
      return `status ${r.status === 0 ? `proxied to ${r.upstream}` : r.status}`;
  }
}

function holds(e: Expectation, d: Decision, loaded: Loaded): boolean {
  if (!d.path.ok) return e.kind === 'status' && e.status === 400;
  const r = d.route!;
  switch (e.kind) {
    case 'server': return loaded.model.servers[r.server].names.some((n) => n.toLowerCase() === e.name || (e.name === '""' && n === ''));
    case 'location': {
      if (e.none) return r.location === null;
      if (!r.text) return false;
      const got = splitLocation(r.text.slice('location '.length));
      return got.modifier === e.modifier && got.path === e.path;
    }
    case 'upstream': return r.kind === 'proxy' && r.upstream === e.name;
    case 'return': return r.kind === 'return' && r.status === e.status;
    case 'status': return r.status === e.status;
  }
}

function expectationText(e: Expectation): string {
  switch (e.kind) {
    case 'server': return `server ${e.name}`;
    case 'location': return e.none ? 'location none' : `location ${quote(`${e.modifier ? e.modifier + ' ' : ''}${e.path}`)}`;
    case 'upstream': return `upstream ${e.name}`;
    case 'return': return `return ${e.status}`;
    case 'status': return `status ${e.status}`;
  }
}

export function runRouteTests(loaded: Loaded, tests: readonly RouteTest[]): TestResult[] {
  return tests.map((test) => {
    const d = decide(loaded, { method: test.method, url: test.url, headers: [], listen: test.listen });
    if (typeof d === 'string') return { test, decision: null, failure: `cannot make the request: ${d}` };
    const wrong = test.expect.filter((e) => !holds(e, d, loaded));
    if (wrong.length === 0) return { test, decision: d, failure: '' };
    const got = [...new Set(wrong.map((e) => actual(e, d, loaded)))].join(', ');
    return { test, decision: d, failure: `expected ${wrong.map(expectationText).join(' ')}, got ${got}` };
  });
}

export interface Coverage {
  servers: Array<{ index: number; reached: boolean; where: string; names: string[] }>;
  locations: Array<{ pointer: string; text: string; reached: boolean; where: string }>;
}

export function coverage(loaded: Loaded, results: readonly TestResult[]): Coverage {
  const servers = new Set<number>();
  const locations = new Set<string>();
  for (const r of results) {
    const route = r.decision?.route;
    if (!route) continue;
    servers.add(route.server);
    if (route.location) locations.add(route.location);
  }
  const m = loaded.model;
  const src = (s: { file: string; line: number } | null) => (s ? `${s.file}:${s.line}` : '?');
  const locs: Coverage['locations'] = [];
  for (const [l, pointer] of m.pointerOf) {
    const ref = loaded.check.locs.get(pointer);
    const where = ref ? `${ref.span.file}:${ref.span.start.line}` : '?';
    const modifier = { exact: '= ', prefix: '', 'prefix-no-regex': '^~ ', regex: '~ ', 'regex-nocase': '~* ' }[l.match];
    locs.push({ pointer, text: `location ${modifier}${l.path}`, reached: locations.has(pointer), where });
  }
  return {
    servers: m.servers.map((s) => ({ index: s.index, reached: servers.has(s.index), where: src(s.source), names: s.names })),
    locations: locs,
  };
}

export function runTest(argv: string[], out: (s: string) => void, color: boolean): number {
  const { values, positionals } = parse(argv, { coverage: { type: 'boolean' } });
  if (values.help) { out(testHelp); return 0; }
  if (positionals.length < 2) throw new UsageError('lbconf test needs CONFIG and at least one TESTS file');
  const [config, ...files] = positionals;
  const all: RouteTest[] = [];
  const errors: TestFileError[] = [];
  for (const file of files) {
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UnreadableFileError(file, err);
    }
    const parsed = parseRouteTests(source, file);
    all.push(...parsed.tests);
    errors.push(...parsed.errors);
  }
  const loaded = loadConfigForRouting(config, out, color);
  if (typeof loaded === 'number') return loaded;
  for (const e of errors) out(`${e.file}:${e.line}: ${e.message}`);
  const results = runRouteTests(loaded, all);
  const failed = results.filter((r) => r.failure !== '');
  for (const r of failed) out(`${r.test.file}:${r.test.line}: ${r.failure}`);
  if (values.coverage) {
    const c = coverage(loaded, results);
    const reachedL = c.locations.filter((l) => l.reached).length;
    const reachedS = c.servers.filter((s) => s.reached).length;
    out(`coverage: ${reachedL} of ${c.locations.length} locations and ${reachedS} of ${c.servers.length} server blocks reached`);
    for (const s of c.servers) if (!s.reached) out(`${s.where}: server block (server_name ${s.names.map((n) => (n === '' ? '""' : n)).join(' ')}) not reached`);
    for (const l of c.locations) if (!l.reached) out(`${l.where}: ${l.text} not reached`);
  }
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const head = `${plural(all.length, 'test')}: ${all.length - failed.length} passed, ${failed.length} failed`;
  out(errors.length ? `${head}; ${plural(errors.length, 'line')} could not be read` : head);
  return failed.length > 0 || errors.length > 0 ? 1 : 0;
}
