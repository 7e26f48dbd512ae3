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

function checkSiblings(r: Reporter, list: LocationIR[], pointer: string, parent: LocationIR | null): void {
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
    for (let j = 0; j < i; j++) {
      const e = list[j];
      const sameKind = (e.match === l.match) || (isPrefix(e) && isPrefix(l));
      if (sameKind && e.path === l.path) {
        if (isRegex(l)) r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` repeats the regex at line ${where(j)}, which always matches first`, 'remove one of them');
        else r.report('error', 'duplicate-location', here, `\`${describeLocation(l)}\` is already defined at line ${where(j)}`, 'merge the two blocks');
        return;
      }
      if (isRegex(l) && matchesEverything(e)) {
        r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: \`${describeLocation(e)}\` at line ${where(j)} matches every path and regexes are tried in file order`, 'move this location above it');
        return;
      }
      const lit = anchoredLiteral(l);
      if (isRegex(l) && lit !== null && isPureLiteralPrefix(e) && (l.match === 'regex' || e.match === 'regex-nocase') && lit.startsWith(anchoredLiteral(e)!)) {
        r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: every path it matches also matches \`${describeLocation(e)}\` at line ${where(j)}, which is tried first`, 'move this location above it');
        return;
      }
    }
    if (isPrefix(l) && l.match === 'prefix') {
      const j = list.findIndex((e) => matchesEverything(e));
      if (j >= 0) r.report('warning', 'unreachable-location', here, `\`${describeLocation(l)}\` is never chosen: \`${describeLocation(list[j])}\` at line ${where(j)} matches every path, and regexes win over plain prefixes`, `write \`location ^~ ${l.path}\` to make the prefix win`);
    }
    if (isRegex(l)) {
      const lit = anchoredLiteral(l);
      const shadow = list.findIndex((e) => e.match === 'prefix-no-regex' && lit !== null && l.match === 'regex' && lit.startsWith(e.path)
        && !list.some((o) => o.match === 'prefix' && o.path.startsWith(e.path) && o.path.length > e.path.length));
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
