import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { emptySettings } from '../../compiler/inherit.ts';
import type { ConfigIR, LocationIR, LocationMatch, ServerIR } from '../../compiler/ir.ts';
import { planSource, loadPlan, type CompileOptions } from '../../compiler/plan.ts';
import { referenceRoute } from './reference.ts';

// The generated route() against the reference interpreter, on random configs
// (host names of every kind, exact, prefix, `^~` and regex locations, nesting,
// server-level returns, several listeners) and random requests. Every codegen
// variant is exercised: exact locations in a switch or in the decision tree,
// host names in a switch or a Map, subtrees split into functions or not, the
// path's characters read with charCodeAt or from the Int32Array.

const PATH_CHARS = ['a', 'b', '/', '.', 'A'];
const pathArb = (max: number) => fc.array(fc.constantFrom(...PATH_CHARS), { maxLength: max }).map((cs) => '/' + cs.join(''));
// Literal ones (`\\.a$`, `^/(a|b)b`, `\\.(a|b)$`: compared as characters, suffixes dispatched on the last one) mixed with ones only the regex engine can run.
const REGEXES = ['^/a', 'b$', '/a/', 'a.b', '^/b/?$', 'A', '^/(a|b)b', '[ab]{3}', '\\.a$', '^/$', 'a', '/', '[^a]$', 'b[^/]', '(?<=a)b', '(a)\\1', '(?<n>b)/',
  '\\.(a|b)$', '(?:A|ab)$', '^/(?:a|b)$', '\\.b$', 'a$', '/(a|bA)$', '^/a\\.b$', '^/A', '(a|)$', 'b/$', 'ba$'];

const locationArb: fc.Memo<LocationIR> = fc.memo((depth: number) => {
  const match = fc.constantFrom<LocationMatch>('exact', 'prefix', 'prefix', 'prefix-no-regex', 'regex', 'regex-nocase');
  const children = depth <= 1 ? fc.constant<LocationIR[]>([]) : fc.array(locationArb(depth - 1), { maxLength: 3 });
  return fc.record({ match, prefixPath: pathArb(4), regex: fc.constantFrom(...REGEXES), children, ret: fc.boolean() }).map(({ match, prefixPath, regex, children, ret }) => {
    const isRegex = match === 'regex' || match === 'regex-nocase';
    const l: LocationIR = {
      match,
      path: isRegex ? regex : prefixPath,
      proxyPass: ret ? null : { scheme: 'http', upstream: 'u', uri: null },
      return: ret ? { status: 204, text: null } : null,
      settings: emptySettings(),
      locations: match === 'exact' ? [] : children,
    };
    return l;
  });
});

/** Nested exact and prefix paths mostly start with their parent's, as valid configs do; now and then not. */
function nestUnder(parent: LocationIR, rewrite: boolean): void {
  for (const child of parent.locations) {
    const isStatic = child.match === 'exact' || child.match === 'prefix' || child.match === 'prefix-no-regex';
    if (rewrite && isStatic && (parent.match === 'prefix' || parent.match === 'prefix-no-regex') && !child.path.startsWith(parent.path)) {
      child.path = parent.path + child.path.slice(1);
    }
    nestUnder(child, rewrite);
  }
}

const NAMES = ['a.x', 'b.x', 'x', '*.x', '.x', 'a.*', 'a.b.*', '*.b.x', '.b.x', '~^a', '~x$', '~^[ab]\\.', '', 'A.X', 'c.x.', '_'];
const HOSTS = ['a.x', 'A.x', 'b.x', 'x', 'c.x', 'a.b.x', 'z.a.x', 'a.y', 'a.b.y', 'a.x:80', 'a.x:8080', 'b.x:8080', 'a.x.', 'x.', '', 'q', 'z.b.x', '[::1]:80', 'B.X:80', 'a', 'c.x', '_'];

const serverArb = fc.record({
  ports: fc.subarray([80, 8080], { minLength: 1 }),
  defaults: fc.subarray([80, 8080]),
  names: fc.array(fc.constantFrom(...NAMES), { maxLength: 3 }),
  locations: fc.array(locationArb(3), { maxLength: 7 }),
  ret: fc.nat(12),
  rewrite: fc.nat(4),
}).map(({ ports, defaults, names, locations, ret, rewrite }): ServerIR => {
  const server: ServerIR = {
    listen: ports.map((port) => ({ address: '*', port, defaultServer: defaults.includes(port), ssl: false })),
    serverNames: names.length ? names : [''],
    tls: null,
    return: ret === 0 ? { status: 301, text: ['https://x/'] } : null,
    settings: emptySettings(),
    locations,
  };
  for (const l of locations) nestUnder(l, rewrite !== 0);
  return server;
});

const configArb = fc.array(serverArb, { minLength: 1, maxLength: 4 }).map((servers): ConfigIR => ({ servers, upstreams: [] }));

const optionsArb = fc.record({
  exactSwitchMax: fc.constantFrom(0, 16),
  hostSwitchMax: fc.constantFrom(0, 16),
  splitNodes: fc.constantFrom(1, 3, 96),
  unrollChars: fc.constantFrom(1, 6),
  charArrayMin: fc.constantFrom(0, 512),
  minify: fc.boolean(),
}) as fc.Arbitrary<CompileOptions>;

const requestArb = fc.record({ listener: fc.nat(1), host: fc.constantFrom(...HOSTS), path: pathArb(7) });

test('generated route() agrees with the reference interpreter on random configs and requests', () => {
  let decisions = 0;
  fc.assert(
    fc.property(configArb, optionsArb, fc.array(requestArb, { minLength: 1, maxLength: 40 }), (ir, options, requests) => {
      const source = planSource(ir, new Map(), options);
      const plan = loadPlan(source);
      for (const { listener, host, path } of requests) {
        const l = plan.listeners[listener % plan.listeners.length];
        const got = plan.routes[plan.route(l.index, host, path)];
        const want = referenceRoute(ir, l.key, host, path);
        assert.deepEqual({ server: got.server, location: got.location }, want, `listener ${l.key}, host ${JSON.stringify(host)}, path ${path}\n${source}`);
        decisions++;
      }
    }),
    { numRuns: 400, seed: Number(process.env.FC_SEED ?? 20260101) },
  );
  assert.ok(decisions > 1000);
});

test('generated route() agrees with the reference on random paths against a larger flat config', () => {
  // Many siblings make the decision tree deep and wide enough to split into functions.
  fc.assert(
    fc.property(fc.array(locationArb(2), { minLength: 20, maxLength: 80 }), fc.array(pathArb(8), { minLength: 50, maxLength: 100 }), (locations, paths) => {
      const ir: ConfigIR = { servers: [{ listen: [{ address: '*', port: 80, defaultServer: false, ssl: false }], serverNames: [''], tls: null, return: null, settings: emptySettings(), locations }], upstreams: [] };
      const plan = loadPlan(planSource(ir, new Map(), { splitNodes: 4, exactSwitchMax: 4, charArrayMin: 0 }));
      for (const path of paths) {
        assert.equal(plan.routes[plan.route(0, '', path)].location, referenceRoute(ir, '*:80', '', path).location, path);
      }
    }),
    { numRuns: 150, seed: 7 },
  );
});
