import type { LocationIR } from '../ir.ts';
import { _, Constants, join, lit, name, regex, Writer, type Code } from './code.ts';
import { isPrefixMatch, isRegexMatch, type HostNames, type Listener, type RoutingModel, type SourceLine } from './model.ts';
import { codesOf, literalRegex, type LiteralRegex } from './literal-regex.ts';
import { buildTrie, type TrieItem, type TrieNode } from './trie.ts';

// The routing model → the source of one JavaScript function body that, run by
// `new Function(source)()`, returns the Plan's parts: `route()`, one router per
// listener, and the frozen tables they index into. See spec/routing.md for the
// rules the code implements and the shape of the code.
//
// Per request the generated code does, with no allocation on the common path:
//   route(listener, host, path) → l<listener>(host, path)
//     → v<listener>(host): exact names (switch or Map), then `*.x`/`.x` by
//       endsWith, then `x.*` by startsWith, longest first, then regexes, then
//       the default server
//     → s<server>(path): exact locations (switch), the longest prefix (a
//       decision tree over char codes), nested levels (n<route>), regexes in
//       file order
//   and returns an index into ROUTES.

export interface GenerateOptions {
  /** Exact locations of one level up to this many are a `switch (path)`; more are folded into the decision tree. Default 16. */
  exactSwitchMax?: number;
  /** Exact server names of one listener up to this many are a `switch`; more are a Map. Default 16. */
  hostSwitchMax?: number;
  /** The most decision-tree nodes one generated function holds; subtrees that do not fit become functions of their own, so that V8 optimizes each. Default 96. */
  splitNodes?: number;
  /** Texts of literal regexes (literal-regex.ts) up to this many characters are compared one charCodeAt at a time; longer ones with startsWith or endsWith, where case allows. Default 6. */
  unrollChars?: number;
  /**
   * A server block whose decision trees (nested levels included) compare more
   * than this many characters reads the path's characters from an Int32Array
   * filled once per request (see fill()); smaller ones call path.charCodeAt()
   * at each branch and edge, which is cheaper than the copy. Default 512.
   */
  charArrayMin?: number;
  /** Named in the header comment. */
  file?: string;
}

const DEFAULTS = { exactSwitchMax: 16, hostSwitchMax: 16, splitNodes: 96, unrollChars: 6, charArrayMin: 512 };

/** Up to this many `^~`/nesting prefixes in one level are a switch after the tree; more use a table. */
const SWITCH_SPECIALS = 4;

export function generate(model: RoutingModel, options: GenerateOptions = {}): string {
  return new Generator(model, { ...DEFAULTS, ...options }).module();
}

const where = (s: SourceLine | null) => (s ? `${s.file}:${s.line}` : 'unknown place');

class Generator {
  readonly model: RoutingModel;
  readonly opts: typeof DEFAULTS & GenerateOptions;
  readonly consts = new Constants();
  readonly functions: Writer[] = [];
  #trieFunctions = 0;
  /** Decision-tree nodes written into the function being generated. */
  #budget = { used: 0 };
  /** The Int32Array constant the decision trees read the path's characters from (see fill()), when the server block being generated uses it. */
  #chars: Code | null = null;

  constructor(model: RoutingModel, opts: typeof DEFAULTS & GenerateOptions) {
    this.model = model;
    this.opts = opts;
  }

  module(): string {
    const m = this.model;
    // Functions first: generating them fills the constants table.
    const arrays = m.ir.servers.filter((s) => !s.return && treeChars(s.locations) > this.opts.charArrayMin);
    const depth = Math.max(0, ...arrays.map((s) => staticDepth(s.locations)));
    const chars = depth > 0 ? this.consts.add('C', _`new Int32Array(${depth + 1})`, 'the first characters of the path being routed, as the decision trees of large server blocks read them: filled by s<N>, then -1') : null;
    m.ir.servers.forEach((s, i) => {
      this.#chars = chars && arrays.includes(s) ? chars : null;
      this.server(i);
    });
    let needsHostKey = false;
    m.listeners.forEach((l) => { needsHostKey = this.listener(l) || needsHostKey; });
    this.routeFunction();

    const out = new Writer();
    out.note(`lbconf routing plan${this.opts.file ? ` for ${this.opts.file}` : ''}: generated code, do not edit.`);
    out.note('Load with `new Function(source)()`; it returns { route, routers, routes, listeners, servers, upstreams }.');
    out.note('route(listener, host, path) takes the raw Host header and the normalized path (runtime/core/normalize-path.ts)');
    out.note('and returns an index into `routes`.');
    out.line(_`"use strict";`);
    if (this.consts.lines.length) {
      out.blank();
      for (const c of this.consts.lines) out.line(c);
    }
    if (needsHostKey) { out.blank(); out.append(hostKeyFunction()); }
    for (const f of this.functions) { out.blank(); out.append(f); }
    out.blank();
    out.append(this.data());
    return out.toString() + '\n';
  }

  // ---- listeners and virtual hosts ----

  /** Emits l<i> (and v<i>, x<i> when the listener has several server blocks); returns whether hostKey is used. */
  listener(l: Listener): boolean {
    const w = new Writer();
    const lname = name(`l${l.index}`);
    const blocks = l.servers.map((s) => `${where(this.model.servers[s].source)}`).join(', ');
    w.note(`listener ${l.key}${l.ssl ? ' ssl' : ''}: server blocks at ${blocks}`);
    if (l.servers.length === 1) {
      w.block(_`function ${lname}(host, path) {`, () => { w.line(_`return ${name(`s${l.servers[0]}`)}(path);`); });
      this.functions.push(w);
      return false;
    }
    const vname = name(`v${l.index}`);
    w.block(_`function ${lname}(host, path) {`, () => {
      w.block(_`switch (${vname}(host)) {`, () => {
        for (const s of l.servers) {
          if (s === l.defaultServer) continue;
          w.line(_`case ${s}: return ${name(`s${s}`)}(path);`, `server block at ${where(this.model.servers[s].source)}`);
        }
        w.line(_`default: return ${name(`s${l.defaultServer}`)}(path);`, `the default server, at ${where(this.model.servers[l.defaultServer].source)}`);
      });
    });
    this.functions.push(w);
    this.functions.push(this.vhost(l, this.model.hosts[l.index], vname));
    return true;
  }

  vhost(l: Listener, names: HostNames, vname: Code): Writer {
    const w = new Writer();
    const xname = name(`x${l.index}`);
    // Exact names, with `name:port` for this listener's port too: the Host header as browsers send it is found with no allocation.
    const cases: Array<[string, number, string]> = [];
    for (const [host, { server, source }] of names.exact) {
      cases.push([host, server, `server_name ${host === '' ? '""' : host} (${where(source)})`]);
      if (host !== '') cases.push([`${host}:${l.port}`, server, '']);
    }
    if (cases.length <= this.opts.hostSwitchMax * 2) {
      w.block(_`function ${xname}(h) {`, () => {
        if (cases.length) {
          w.block(_`switch (h) {`, () => {
            for (const [host, s, note] of cases) w.line(_`case ${host}: return ${s};`, note || undefined);
          });
        }
        w.line(_`return -1;`);
      });
    } else {
      const map = this.consts.add('N', _`new Map(${lit(cases.map(([h, s]) => [h, s]))})`, `exact server names of listener ${l.key}`);
      w.block(_`function ${xname}(h) {`, () => {
        w.line(_`const s = ${map}.get(h);`);
        w.line(_`return s === undefined ? -1 : s;`);
      });
    }
    w.blank();
    w.note(`listener ${l.key}: which server block serves a Host, in nginx's order`);
    w.block(_`function ${vname}(host) {`, () => {
      w.line(_`let s = ${xname}(host);`, 'an exact name, as sent');
      w.line(_`if (s >= 0) return s;`);
      w.line(_`const h = hostKey(host);`, 'lower case, no port, no trailing dot');
      w.line(_`if (h !== host && (s = ${xname}(h)) >= 0) return s;`);
      for (const n of names.head) {
        const test = n.bare ? _`h === ${n.base} || h.endsWith(${'.' + n.base})` : _`h.endsWith(${'.' + n.base})`;
        w.line(_`if (${test}) return ${n.server};`, `server_name ${n.name} (${where(n.source)})`);
      }
      for (const n of names.tail) {
        w.line(_`if (h.length > ${n.base.length} && h.startsWith(${n.base})) return ${n.server};`, `server_name ${n.name} (${where(n.source)})`);
      }
      for (const n of names.regex) {
        const re = this.consts.add('H', regex(n.pattern, 'i'), `server_name ${n.name} (${where(n.source)})`);
        w.line(_`if (${re}.test(h)) return ${n.server};`, `server_name ${n.name}`);
      }
      w.line(_`return ${l.defaultServer};`, `the default server (${where(this.model.servers[l.defaultServer].source)})`);
    });
    return w;
  }

  routeFunction(): void {
    const w = new Writer();
    w.note('The entry point: a listener index (see `listeners`), the raw Host header value, the normalized path.');
    w.block(_`function route(listener, host, path) {`, () => {
      if (this.model.listeners.length > 0) {
        w.block(_`switch (listener) {`, () => {
          for (const l of this.model.listeners) w.line(_`case ${l.index}: return ${name(`l${l.index}`)}(host, path);`, l.key);
        });
      }
      w.line(_`return -1;`, 'no such listener');
    });
    this.functions.push(w);
  }

  // ---- locations ----

  server(s: number): void {
    const m = this.model;
    const server = m.ir.servers[s];
    const info = m.servers[s];
    const w = new Writer();
    const names = server.serverNames.map((n) => (n === '' ? '""' : n)).join(' ');
    w.note(`server block at ${where(info.source)} (server_name ${names})`);
    w.block(_`function ${name(`s${s}`)}(path) {`, () => {
      if (server.return) w.line(_`return ${info.fallback};`, `the server's own \`return ${server.return.status}\` answers every request`);
      else this.level(w, server.locations, true, '', info.fallback);
    });
    this.functions.push(w);
  }

  /** The function for the locations nested in `parent`; it returns a route (final), -1 (none), or -2 - route (a prefix, not final). */
  nested(parent: LocationIR): void {
    const m = this.model;
    const idx = m.routeOf.get(parent)!;
    const w = new Writer();
    w.note(`inside ${m.routes[idx].text} (${where(m.routes[idx].source)}): a route is final; -1 nothing here; -2 - route a prefix, regexes outside still apply`);
    w.block(_`function ${name(`n${idx}`)}(path) {`, () => {
      this.level(w, parent.locations, false, isPrefixMatch(parent) ? parent.path : '', null);
    });
    this.functions.push(w);
  }

  note(l: LocationIR): string {
    const r = this.model.routes[this.model.routeOf.get(l)!];
    return `${r.text} (${where(r.source)})`;
  }

  /**
   * One level of nginx's location search (ngx_http_core_find_location):
   * exact, else the longest prefix and what is nested in it, else (unless that
   * prefix is `^~`) the regexes in file order, else the longest prefix.
   */
  level(w: Writer, children: LocationIR[], top: boolean, known: string, fallback: number | null): void {
    const declined = fallback === null ? _`-1` : _`${fallback}`;
    const m = this.model;
    const route = (l: LocationIR) => m.routeOf.get(l)!;
    const exacts = children.filter((l) => l.match === 'exact');
    const prefixes = children.filter(isPrefixMatch);
    const regexes = children.filter(isRegexMatch);
    for (const l of children) if (l.locations.length > 0) this.nested(l);

    const exactSwitch = exacts.length <= this.opts.exactSwitchMax;
    if (exactSwitch && exacts.length > 0) {
      const seen = new Set<string>();
      w.block(_`switch (path) {`, () => {
        for (const l of exacts) {
          if (seen.has(l.path)) continue; // a repeat is never reached: the first case wins
          seen.add(l.path);
          w.line(_`case ${l.path}: return ${route(l)};`, this.note(l));
        }
      });
    }
    if (top) this.fill(w, staticDepth(children));

    const items: TrieItem[] = prefixes.map((l) => ({ path: l.path, kind: 'prefix', value: route(l) }));
    if (!exactSwitch) items.push(...exacts.map((l): TrieItem => ({ path: l.path, kind: 'exact', value: route(l) })));
    // The characters every nested path shares with its parent are already checked (when the config is valid).
    const base = items.every((i) => i.path.startsWith(known)) ? known : '';
    const trie = items.length > 0 ? buildTrie(items, base) : null;
    // Only the prefixes that can be the longest one (the first of equal paths).
    const reachable = new Set<number>();
    if (trie) collect(trie, reachable);
    const special = prefixes.filter((l) => reachable.has(route(l)) && (l.locations.length > 0 || l.match === 'prefix-no-regex'));

    if (trie) {
      w.line(_`let p = -1;`, base ? `the longest prefix location (a route); paths here start with ${JSON.stringify(base)}` : 'the longest prefix location (a route)');
      this.#budget = { used: 0 };
      this.trieNode(w, trie, false, (l) => m.routes[l]);
    }
    if (!trie) {
      // No prefix here: regexes, else nothing.
      this.regexes(w, regexes);
      w.line(_`return ${declined};`, top ? 'no location matches: 404' : undefined);
      return;
    }
    const result = top ? _`p < 0 ? ${declined} : p` : _`-2 - p`;
    if (special.length === 0 && regexes.length === 0) {
      w.line(_`return ${result};`);
      return;
    }
    w.line(_`let r = ${result};`);
    if (special.length > SWITCH_SPECIALS) {
      // Many `^~` or nesting prefixes: one table lookup instead of a long switch.
      const kinds = this.kinds();
      w.line(_`const k = p < 0 ? 0 : ${kinds}[p];`, '1: `^~`, 2: has nested locations');
      if (special.some((l) => l.locations.length === 0)) w.line(_`if (k === 1) return r;`, '`^~` skips the regexes');
      const nesting = special.filter((l) => l.locations.length > 0);
      if (nesting.length > 0) w.block(_`if (k === 2) {`, () => this.nestedSwitch(w, nesting, top));
    } else if (special.length > 0) {
      this.nestedSwitch(w, special, top);
    }
    this.regexes(w, regexes);
    w.line(_`return r;`);
  }

  /**
   * In a large server block (charArrayMin), copies the path's first
   * characters into the Int32Array its decision trees (nested levels
   * included) read, then -1: no tree reads past it. V8's optimizing compiler
   * expands every path.charCodeAt() into a loop over string representations:
   * with thousands of them, a plan of 1,000 locations spent seconds in the
   * compiler before it ran at full speed, and ran slower once it did.
   */
  fill(w: Writer, depth: number): void {
    const c = this.#chars;
    if (c === null || depth === 0) return;
    w.line(_`const m = path.length < ${depth} ? path.length : ${depth};`, `the trees here read at most ${depth} characters`);
    w.line(_`for (let i = 0; i < m; i++) ${c}[i] = path.charCodeAt(i);`);
    w.line(_`${c}[m] = -1;`);
  }

  /** A Uint8Array by route: 1 for a `^~` location without nested ones, 2 for a location with nested ones. */
  kinds(): Code {
    const m = this.model;
    const ones: number[] = [];
    const twos: number[] = [];
    for (const [l, idx] of m.routeOf) {
      if (l.locations.length > 0) twos.push(idx);
      else if (l.match === 'prefix-no-regex') ones.push(idx);
    }
    return this.consts.add('K', _`((k) => { for (const i of ${lit(ones)}) k[i] = 1; for (const i of ${lit(twos)}) k[i] = 2; return k; })(new Uint8Array(${m.routes.length}))`, 'by route: 1 `^~`, 2 has nested locations');
  }

  /** After the decision tree: what a `^~` prefix or a prefix with nested locations does when it is the longest. */
  nestedSwitch(w: Writer, special: LocationIR[], top: boolean): void {
    const route = (l: LocationIR) => this.model.routeOf.get(l)!;
    {
      w.block(_`switch (p) {`, () => {
        for (const l of special) {
          const idx = route(l);
          const stop = l.match === 'prefix-no-regex';
          if (l.locations.length === 0) { w.line(_`case ${idx}: return r;`, `${this.note(l)}: \`^~\` skips the regexes`); continue; }
          w.block(_`case ${idx}: {`, () => {
            w.line(_`const n = ${name(`n${idx}`)}(path);`, `what is nested in ${this.note(l)}`);
            w.line(_`if (n >= 0) return n;`);
            w.line(_`if (n < -1) r = ${top ? _`-2 - n` : _`n`};`);
            w.line(stop ? _`return r;` : _`break;`, stop ? '`^~`: skip the regexes' : undefined);
          }, _`}`, this.note(l));
        }
      });
    }
  }

  /**
   * The regexes of one level, in file order; the first that matches wins.
   * Regexes that are only literal text (`\.png$`, `\.(jpg|gif)$`, `^/api/`,
   * `^/health$`: see literal-regex.ts) become character comparisons, and a run
   * of consecutive suffix ones becomes one `switch` on the path's last
   * character, so a path pays only for the suffixes that end like it. The
   * other regexes share one combined regex per flag kind, tested once where
   * the first of them stands: a filter (when it does not match, none does),
   * not a choice; they are still tested in order.
   */
  regexes(w: Writer, list: LocationIR[]): void {
    const forms = new Map<LocationIR, LiteralRegex>();
    for (const l of list) {
      const form = literalRegex(l.path, l.match === 'regex-nocase');
      if (form) forms.set(l, form);
    }
    const engine = list.filter((l) => !forms.has(l));
    let filter: Code | null = null;
    let filterWritten = false;
    if (engine.length >= 2) {
      const guards: Code[] = [];
      for (const kind of ['regex', 'regex-nocase']) {
        const group = engine.filter((l) => l.match === kind);
        if (group.length === 0) continue;
        const combined = combinedRegex(group);
        if (!combined) { guards.length = 0; break; }
        guards.push(group.length === 1
          ? this.consts.add('R', regex(group[0].path, combined.flags), this.note(group[0]))
          : this.consts.add('G', regex(combined.pattern, combined.flags), `any of ${group.length} ${combined.flags ? '~*' : '~'} regexes: a filter, so that a path matching none pays one test`));
      }
      if (guards.length) filter = join(guards.map((g) => _`${g}.test(path)`), _` || `);
    }
    let run: LocationIR[] = [];
    const flush = () => {
      if (run.length) this.suffixRun(w, run, forms);
      run = [];
    };
    for (const l of list) {
      const form = forms.get(l);
      if (form && form.anchor === 'suffix') { run.push(l); continue; }
      flush();
      if (form) { this.hit(w, l, literalTest(form, 0, this.opts.unrollChars)); continue; }
      const re = this.consts.add('R', regex(l.path, l.match === 'regex-nocase' ? 'i' : ''), this.note(l));
      if (filter && !filterWritten) { w.line(_`const any = ${filter};`, `does any of the ${engine.length} regexes below match?`); filterWritten = true; }
      this.hit(w, l, filter ? _`any && ${re}.test(path)` : _`${re}.test(path)`);
    }
    flush();
  }

  /** What a matching regex location does: return its route, or what is nested in it. A null test always matches. */
  hit(w: Writer, l: LocationIR, test: Code | null): void {
    const idx = this.model.routeOf.get(l)!;
    if (l.locations.length === 0) {
      w.line(test ? _`if (${test}) return ${idx};` : _`return ${idx};`, this.note(l));
      return;
    }
    const body = () => {
      w.line(_`const n = ${name(`n${idx}`)}(path);`);
      w.line(_`return n >= 0 ? n : n === -1 ? ${idx} : -2 - n;`);
    };
    if (test) w.block(_`if (${test}) {`, body, _`}`, this.note(l));
    else w.block(_`{`, body, _`}`, this.note(l));
  }

  /**
   * Consecutive suffix regexes: a `switch` on the last character of the path;
   * under each case, in file order, the locations with a text ending in it.
   */
  suffixRun(w: Writer, run: LocationIR[], forms: Map<LocationIR, LiteralRegex>): void {
    const single = run.length === 1 && forms.get(run[0])!.texts.length === 1;
    if (single) { this.hit(w, run[0], literalTest(forms.get(run[0])!, 0, this.opts.unrollChars)); return; }
    // Character code → the locations (in file order) with a text ending in it, and those texts.
    const byCode = new Map<number, Array<{ l: LocationIR; form: LiteralRegex }>>();
    for (const l of run) {
      const form = forms.get(l)!;
      const codes = new Set(form.texts.flatMap((t) => codesOf(t[t.length - 1], form.nocase)));
      for (const code of codes) {
        const texts = form.texts.filter((t) => codesOf(t[t.length - 1], form.nocase).includes(code));
        byCode.set(code, [...(byCode.get(code) ?? []), { l, form: { ...form, texts } }]);
      }
    }
    // Codes with the same candidates (an ASCII letter's two cases under `~*`) share one case.
    const cases = new Map<string, { codes: number[]; candidates: Array<{ l: LocationIR; form: LiteralRegex }> }>();
    for (const [code, candidates] of [...byCode].sort((a, b) => a[0] - b[0])) {
      const key = JSON.stringify(candidates.map(({ l, form }) => [this.model.routeOf.get(l), form.texts]));
      const c = cases.get(key) ?? { codes: [], candidates };
      c.codes.push(code);
      cases.set(key, c);
    }
    w.block(_`switch (path.charCodeAt(path.length - 1)) {`, () => {
      for (const { codes, candidates } of cases.values()) {
        w.line(join(codes.map((c) => _`case ${c}:`), _` `), codes.map((c) => JSON.stringify(String.fromCharCode(c))).join(' '));
        w.indent(() => {
          for (const { l, form } of candidates) {
            const test = literalTest(form, 1, this.opts.unrollChars);
            this.hit(w, l, test);
            if (!test) return; // a text of one character: nothing after it is reached
          }
          w.line(_`break;`);
        });
      }
    });
  }

  /**
   * The decision tree. `p` holds the longest prefix seen; an exact location
   * returns when the path ends at its node. In a split-off function (`sub`) an
   * exact match returns -2 - route, which the caller passes on.
   */
  trieNode(w: Writer, node: TrieNode, sub: boolean, routeAt: (i: number) => { text: string | null; source: SourceLine | null }): void {
    this.#budget.used++;
    const label = (i: number) => `${routeAt(i).text} (${where(routeAt(i).source)})`;
    if (node.prefix >= 0) w.line(_`p = ${node.prefix};`, label(node.prefix));
    if (node.exact >= 0) w.line(_`if (path.length === ${node.depth}) return ${sub ? -2 - node.exact : node.exact};`, label(node.exact));
    // A leaf that is only an exact location: check the length first, then the characters.
    const leaf = (child: TrieNode) => child.children.length === 0 && child.prefix < 0 && child.exact >= 0;
    const exactLeaf = (child: TrieNode, from: number) => {
      const edge = child.label.length > from ? _` && ${this.edge(child, from)}` : _``;
      w.line(_`if (path.length === ${child.depth}${edge}) return ${sub ? -2 - child.exact : child.exact};`, label(child.exact));
    };
    if (node.children.length === 1) {
      const child = node.children[0];
      if (leaf(child)) exactLeaf(child, 0);
      else w.block(_`if (${this.edge(child, 0)}) {`, () => this.trieChild(w, child, sub, routeAt), _`}`, JSON.stringify(shorten(child.label)));
    } else if (node.children.length > 1) {
      w.block(_`switch (${this.read(node.depth)}) {`, () => {
        for (const child of node.children) {
          w.line(_`case ${child.label.charCodeAt(0)}:`, JSON.stringify(shorten(child.label)));
          w.indent(() => {
            if (leaf(child)) { exactLeaf(child, 1); w.line(_`break;`); return; }
            if (child.label.length > 1) w.block(_`if (${this.edge(child, 1)}) {`, () => this.trieChild(w, child, sub, routeAt));
            else this.trieChild(w, child, sub, routeAt);
            w.line(_`break;`);
          });
        }
      });
    }
  }

  trieChild(w: Writer, child: TrieNode, sub: boolean, routeAt: (i: number) => { text: string | null; source: SourceLine | null }): void {
    // Inline while the current function has room for the whole subtree; else a function of its own.
    if (this.#budget.used + child.size <= this.opts.splitNodes || child.children.length === 0) { this.trieNode(w, child, sub, routeAt); return; }
    const outer = this.#budget;
    this.#budget = { used: 0 };
    const fn = name(`t${this.#trieFunctions++}`);
    const f = new Writer();
    f.note(`the decision tree below ${JSON.stringify(child.label.slice(0, 40))} (path index ${child.depth})`);
    f.block(_`function ${fn}(path, p) {`, () => {
      this.trieNode(f, child, true, routeAt);
      f.line(_`return p;`);
    });
    this.functions.push(f);
    this.#budget = outer;
    this.#budget.used++;
    w.line(_`p = ${fn}(path, p);`);
    if (hasExact(child)) w.line(_`if (p < -1) return ${sub ? _`p` : _`-2 - p`};`, 'an exact location matched');
  }

  /** The check that the path continues with `node.label` (from its character `from`): left to right, so the -1 after the path's end stops it. */
  edge(node: TrieNode, from: number): Code {
    const text = node.label.slice(from);
    const at = node.depth - node.label.length + from;
    const checks: Code[] = [];
    for (let i = 0; i < text.length; i++) checks.push(_`${this.read(at + i)} === ${text.charCodeAt(i)}`);
    return join(checks, _` && `);
  }

  /** The path's character at `i`, as the decision trees read it (see fill()). */
  read(i: number): Code {
    return this.#chars ? _`${this.#chars}[${i}]` : _`path.charCodeAt(${i})`;
  }

  // ---- data ----

  data(): Writer {
    const m = this.model;
    const w = new Writer();
    w.note('The tables route() indexes into, frozen: per route, the upstream, headers, timeouts, retry policy and access rules.');
    w.block(_`function freeze(o) {`, () => {
      w.line(_`if (o !== null && typeof o === "object" && !Object.isFrozen(o)) { Object.freeze(o); for (const k of Object.keys(o)) freeze(o[k]); }`);
      w.line(_`return o;`);
    });
    // Equal values are written once: settings, proxy_pass and return objects, file names.
    const interned = new Map<string, Code>();
    const counts = new Map<string, number>();
    const intern = (prefix: string, value: unknown): Code => {
      if (value === null) return _`null`;
      const key = `${prefix}${JSON.stringify(value)}`;
      let id = interned.get(key);
      if (!id) {
        const n = counts.get(prefix) ?? 0;
        counts.set(prefix, n + 1);
        id = name(`${prefix}${n}`);
        interned.set(key, id);
        w.line(_`const ${id} = ${lit(value)};`);
      }
      return id;
    };
    w.note('ROUTES[i] = mk(index, server, location, text, kind, status, upstream, proxyPass, return, settings, file, line, column)');
    w.block(_`function mk(index, server, location, text, kind, status, upstream, proxyPass, ret, settings, file, line, column) {`, () => {
      w.line(_`return { index, server, location, text, kind, status, upstream, proxyPass, return: ret, settings, source: file === null ? null : { file, line, column } };`);
    });
    const lines: Code[] = [];
    for (const r of m.routes) {
      const src = r.source ? _`${intern('F', r.source.file)}, ${r.source.line}, ${r.source.column}` : _`null, 0, 0`;
      lines.push(_`mk(${r.index}, ${r.server}, ${r.location}, ${r.text}, ${r.kind}, ${r.status}, ${r.upstream}, ${intern('P', r.proxyPass)}, ${intern('T', r.return)}, ${intern('S', r.settings)}, ${src}),`);
    }
    w.block(_`const ROUTES = freeze([`, () => { for (const c of lines) w.line(c); }, _`]);`);
    w.line(_`const LISTENERS = freeze(${lit(m.listeners)});`);
    w.line(_`const SERVERS = freeze(${lit(m.servers)});`);
    w.line(_`const UPSTREAMS = freeze(${lit(m.ir.upstreams)});`);
    const routers = join(m.listeners.map((l) => name(`l${l.index}`)));
    w.line(_`return { route, routers: freeze([${routers}]), routes: ROUTES, listeners: LISTENERS, servers: SERVERS, upstreams: UPSTREAMS };`);
    return w;
  }
}

/**
 * The test that the path ends with (starts with, equals) one of `form.texts`,
 * as comparisons of character codes; `known` characters at the end of a
 * suffix are already checked. Null when nothing is left to check. A position
 * before the path's start reads NaN, which equals no code (and `NaN | 32` is
 * 32, no letter), so short paths need no length check.
 */
function literalTest(form: LiteralRegex, known: number, unrollChars: number): Code | null {
  const tests: Code[] = [];
  for (const t of form.texts) {
    const checks: Code[] = [];
    const count = form.anchor === 'suffix' ? t.length - known : t.length;
    if (form.anchor === 'exact' && !form.nocase) {
      checks.push(_`path === ${t}`);
    } else if (!form.nocase && count > unrollChars) {
      checks.push(form.anchor === 'suffix' ? _`path.endsWith(${t})` : _`path.startsWith(${t})`);
    } else {
      if (form.anchor === 'exact') checks.push(_`path.length === ${t.length}`);
      // A suffix is compared from its end: that is where paths differ.
      for (let k = 0; k < count; k++) {
        const i = form.anchor === 'suffix' ? count - 1 - k : k;
        const at = form.anchor === 'suffix' ? _`path.length - ${t.length - i}` : _`${i}`;
        const codes = codesOf(t[i], form.nocase);
        checks.push(codes.length === 2 ? _`(path.charCodeAt(${at}) | 32) === ${codes[0]}` : _`path.charCodeAt(${at}) === ${codes[0]}`);
      }
    }
    if (checks.length === 0) return null;
    tests.push(join(checks, _` && `));
  }
  return tests.length === 1 ? tests[0] : join(tests.map((t) => _`(${t})`), _` || `);
}

/**
 * `(?:a)|(?:b)|…` for regexes of one kind (all `~` or all `~*`): it matches
 * whenever one of them does. Null when combining could change a pattern's
 * meaning (backreferences, named groups) or the result fails to compile.
 */
export function combinedRegex(list: LocationIR[]): { pattern: string; flags: string } | null {
  if (list.some((l) => /\\[1-9]|\\k<|\(\?</.test(l.path.replace(/\(\?<[=!]/g, '')))) return null;
  const pattern = list.map((l) => `(?:${l.path})`).join('|');
  const flags = list[0].match === 'regex-nocase' ? 'i' : '';
  try {
    new RegExp(pattern, flags);
  } catch {
    return null;
  }
  return { pattern, flags };
}

/** About how many characters the decision trees of `locations` (nested levels included) compare: those of one tree of all their exact and prefix paths. */
function treeChars(locations: LocationIR[]): number {
  const items: TrieItem[] = [];
  const walk = (list: LocationIR[]) => {
    for (const l of list) {
      if (!isRegexMatch(l)) items.push({ path: l.path, kind: l.match === 'exact' ? 'exact' : 'prefix', value: 0 });
      walk(l.locations);
    }
  };
  walk(locations);
  const count = (n: TrieNode): number => n.label.length + n.children.reduce((sum, c) => sum + count(c), 0);
  return items.length ? count(buildTrie(items, '')) : 0;
}

/** The longest exact or prefix path among `locations` and those nested in them: how far into the path a decision tree may read. */
function staticDepth(locations: LocationIR[]): number {
  let depth = 0;
  for (const l of locations) {
    if (!isRegexMatch(l)) depth = Math.max(depth, l.path.length);
    depth = Math.max(depth, staticDepth(l.locations));
  }
  return depth;
}

const shorten = (label: string) => (label.length > 24 ? label.slice(0, 24) + '…' : label);

function collect(node: TrieNode, out: Set<number>): void {
  if (node.prefix >= 0) out.add(node.prefix);
  for (const c of node.children) collect(c, out);
}

function hasExact(node: TrieNode): boolean {
  return node.exact >= 0 || node.children.some(hasExact);
}

/** nginx's host comparison form, emitted into the module: no allocation when the Host is already lower case with no port. */
function hostKeyFunction(): Writer {
  const w = new Writer();
  w.note('The Host as nginx compares it: lower case, without the port and a trailing dot. Returns `host` itself when nothing changes.');
  w.block(_`function hostKey(host) {`, () => {
    w.line(_`let end = host.length;`);
    w.line(_`let upper = false;`);
    w.block(_`for (let i = 0; i < host.length; i++) {`, () => {
      w.line(_`const c = host.charCodeAt(i);`);
      w.line(_`if (c === 58 && host.charCodeAt(0) !== 91) { end = i; break; }`, '":" outside "[v6]"');
      w.line(_`if (c === 93) { end = i + 1; break; }`, '"]" ends an IPv6 address');
      w.line(_`if (c >= 65 && c <= 90) upper = true;`);
    });
    w.line(_`if (end > 0 && host.charCodeAt(end - 1) === 46) end--;`, 'a trailing "."');
    w.line(_`if (end === host.length && !upper) return host;`);
    w.line(_`const h = end === host.length ? host : host.slice(0, end);`);
    w.line(_`return upper ? h.toLowerCase() : h;`);
  });
  return w;
}
