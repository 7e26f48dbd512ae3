import type { LocationIR } from '../ir.ts';
import { describeLocation, Reporter, type Check } from './check.ts';

// Locations that can never be chosen, and nesting nginx would refuse.

const isPrefix = (l: LocationIR) => l.match === 'prefix' || l.match === 'prefix-no-regex';
const isRegex = (l: LocationIR) => l.match === 'regex' || l.match === 'regex-nocase';

/** A regex that every request path matches. */
function matchesEverything(l: LocationIR): boolean {
  return isRegex(l) && /^(\^?\/?(\.\*)?|\.|\^\.\*|\^?\/?\.\*\$?)$/.test(l.path);
}

/** For `^/literal` regexes: the literal every match starts with. */
function anchoredLiteral(l: LocationIR): string | null {
  if (!isRegex(l) || !l.path.startsWith('^')) return null;
  // An invalid regex is reported as such (checks/regex.ts); reasoning about what it matches would only add noise.
  try { new RegExp(l.path); } catch { return null; }
  const m = /^\^((?:[^\\^$.|?*+()[\]{}]|\\[./-])*)/.exec(l.path);
  if (!m) return null;
  const literal = m[1].replace(/\\(.)/g, '$1');
  return l.match === 'regex-nocase' ? literal.toLowerCase() : literal;
}

/** True when the regex is nothing but `^literal`: it matches exactly the paths starting with literal. */
function isPureLiteralPrefix(l: LocationIR): boolean {
  const lit = anchoredLiteral(l);
  return lit !== null && l.path === '^' + lit.replace(/[./-]/g, (c) => (c === '.' ? '\\.' : c)) && l.match === 'regex';
}

/** A sibling list's lookup tables, so each check is a map lookup rather than a scan. */
function tables(list: LocationIR[]) {
  const firstByKey = new Map<string, number>();
  const literal: (string | null)[] = [];
  const pureLiterals: { index: number; literal: string; nocase: boolean }[] = [];
  let firstEverything = -1;
  list.forEach((e, j) => {
    const key = keyOf(e);
    if (!firstByKey.has(key)) firstByKey.set(key, j);
    literal.push(anchoredLiteral(e));
    if (isPureLiteralPrefix(e)) pureLiterals.push({ index: j, literal: literal[j]!, nocase: e.match === 'regex-nocase' });
    if (firstEverything < 0 && matchesEverything(e)) firstEverything = j;
  });
  // `^~` prefixes that end the regex search, unless a longer plain prefix below them takes over.
  const stopsRegexes = list.flatMap((e, j) => (e.match === 'prefix-no-regex' && !list.some((o) => o.match === 'prefix' && o.path.startsWith(e.path) && o.path.length > e.path.length) ? [j] : []));
  return { firstByKey, literal, pureLiterals, firstEverything, stopsRegexes };
}

/** Locations of one kind and path are the same location: prefix and `^~` count as one kind. */
const keyOf = (l: LocationIR) => `${isPrefix(l) ? 'prefix' : l.match}\0${l.path}`;

function checkSiblings(r: Reporter, list: LocationIR[], pointer: string, parent: LocationIR | null): void {
  const t = tables(list);
  list.forEach((l, i) => {
    const here = `${pointer}/locations/${i}`;
    const where = (j: number) => r.span(`${pointer}/locations/${j}`).start.line;
    if (parent) {
      if (parent.match === 'exact') {
        r.report('error', 'location-in-exact', here, `a location cannot be nested in an exact \`${describeLocation(parent)}\``, 'move it out, or make the outer location a prefix');
      } else if (isRegex(parent) && !isRegex(l)) {
        r.report('error', 'location-outside-parent', here, `\`${describeLocation(l)}\` cannot be nested in a regex location`, 'nest only regex locations inside a regex location');
      } else if (!isRegex(l) && !isRegex(parent) && !l.path.startsWith(parent.path)) {
        r.report('error', 'location-outside-parent', `${here}/path`, `\`${describeLocation(l)}\` is outside its parent \`${describeLocation(parent)}\`: a request can never reach it`, `start the path with ${parent.path}`);
      }
    }
    // The first earlier sibling that shadows this one, found through the tables
    // built once per list (a pairwise scan is quadratic in large configs).
    const dup = t.firstByKey.get(keyOf(l))!;
    const lit = isRegex(l) ? t.literal[i] : null;
    let cover = -1;
    if (lit !== null) {
      for (const e of t.pureLiterals) {
        if (e.index >= i) break;
        if ((l.match === 'regex' || e.nocase) && lit.startsWith(e.literal)) { cover = e.index; break; }
      }
    }
    const everything = isRegex(l) && t.firstEverything >= 0 && t.firstEverything < i ? t.firstEverything : -1;
    const first = Math.min(...[dup < i ? dup : Infinity, everything >= 0 ? everything : Infinity, cover >= 0 ? cover : Infinity]);
    if (first !== Infinity) {
      const j = first;
      if (dup === j) {
        if (isRegex(l)) r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` repeats the regex at line ${where(j)}, which always matches first`, 'remove one of them');
        else r.report('error', 'duplicate-location', here, `\`${describeLocation(l)}\` is already defined at line ${where(j)}`, 'merge the two blocks');
      } else if (everything === j) {
        r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: \`${describeLocation(list[j])}\` at line ${where(j)} matches every path and regexes are tried in file order`, 'move this location above it');
      } else {
        r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: every path it matches also matches \`${describeLocation(list[j])}\` at line ${where(j)}, which is tried first`, 'move this location above it');
      }
      return;
    }
    if (isPrefix(l) && l.match === 'prefix') {
      const j = t.firstEverything;
      if (j >= 0) r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: \`${describeLocation(list[j])}\` at line ${where(j)} matches every path, and regexes win over plain prefixes`, `write \`location ^~ ${l.path}\` to make the prefix win`);
    }
    if (isRegex(l)) {
      const lit = t.literal[i];
      const shadow = lit === null || l.match !== 'regex' ? -1 : t.stopsRegexes.find((j) => lit.startsWith(list[j].path)) ?? -1;
      if (shadow >= 0) r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: paths it matches start with \`${list[shadow].path}\`, and \`${describeLocation(list[shadow])}\` at line ${where(shadow)} stops the regex search`, `remove \`^~\` from line ${where(shadow)}, or nest this regex inside that location`);
    }
    if (l.return && l.proxyPass) {
      r.report('warning', 'return-and-proxy', here, `\`${describeLocation(l)}\` has both \`return\` and \`proxy_pass\`: \`return\` answers first, so nothing is proxied`, 'remove one of them');
    }
    // Quiet when a directive of this location was in error (it may be the missing handler),
    // and when every request here is denied first, as in `location ~ /\.git { deny all; }`.
    const deniesAll = l.settings.access[0]?.action === 'deny' && l.settings.access[0].source === 'all';
    if (!l.return && !l.proxyPass && l.locations.length === 0 && !deniesAll && !r.tainted(here)) {
      r.report('warning', 'no-handler', here, `\`${describeLocation(l)}\` has neither \`proxy_pass\` nor \`return\`: requests here get 404`, 'add `proxy_pass http://UPSTREAM;` or `return`');
    }
    checkSiblings(r, l.locations, here, l);
  });
}

export const checkLocations: Check = (input) => {
  const r = new Reporter(input);
  input.ir.servers.forEach((server, s) => {
    const pointer = `/servers/${s}`;
    if (server.return && server.locations.length > 0) {
      r.report('warning', 'unreachable-location', `${pointer}/locations/0`, `this server answers every request with its own \`return\`, so none of its locations is ever used`, 'move the `return` into a location, or remove the locations');
    }
    checkSiblings(r, server.locations, pointer, null);
  });
  return r.out;
};
