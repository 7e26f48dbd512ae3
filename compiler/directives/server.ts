import * as t from '../arg-types.ts';
import type { DirectiveSpec } from '../directive.ts';
import type { LocationIR, LocationMatch, ServerIR } from '../ir.ts';
import { emptySettings } from '../inherit.ts';
import type { Template } from '../variables.ts';

// Virtual servers and locations: `server`, `listen`, `server_name`, `location`, `return`.

const server: DirectiveSpec = {
  name: 'server',
  contexts: ['main'],
  block: 'server',
  args: { positional: [] },
  repeatable: true,
  summary: 'A virtual server: the listeners it answers on, the host names it serves, and its locations.',
  example: 'server {\n    listen 80;\n    server_name example.com;\n    location / { proxy_pass http://app; }\n}',
  lower(cx, args) {
    const s: ServerIR = { listen: [], serverNames: [], tls: null, return: null, settings: emptySettings(), locations: [] };
    const pointer = `/servers/${cx.ir.servers.length}`;
    cx.ir.servers.push(s);
    cx.at(pointer, args.directive.nameSpan, '`server`');
    return { context: 'server', server: s, location: null, upstream: null, pointer, settings: {} };
  },
};

const listen: DirectiveSpec = {
  name: 'listen',
  contexts: ['server'],
  args: {
    positional: [{ name: 'address', type: t.listenAddress }],
    flags: { default_server: 'this server answers requests whose host matches no `server_name` on this address', ssl: 'accept TLS connections (needs `ssl_certificate`)' },
  },
  repeatable: true,
  default: 'listen 80;',
  summary: 'An address and port this server accepts connections on: a port, `address:port`, `[ipv6]:port` or `*:port`.',
  example: 'listen 443 ssl default_server;',
  lower(cx, args, frame) {
    const s = frame.server!;
    const where = args.get<{ address: string; port: number }>('address');
    if (!where) return;
    const pointer = `${frame.pointer}/listen/${s.listen.length}`;
    s.listen.push({ address: where.address, port: where.port, defaultServer: args.flags.has('default_server'), ssl: args.flags.has('ssl') });
    cx.at(pointer, args.directive.span, '`listen`');
    cx.at(`${pointer}/port`, args.span('address'), 'the port');
  },
};

const serverName: DirectiveSpec = {
  name: 'server_name',
  contexts: ['server'],
  args: { positional: [{ name: 'name', type: t.serverName, variadic: true }] },
  repeatable: true,
  default: 'server_name "";',
  summary: 'The host names this server answers for: exact names, `*.example.com`, `www.example.*` and `~regex`, matched in nginx\'s order.',
  example: 'server_name example.com www.example.com *.example.org;',
  lower(cx, args, frame) {
    const names = args.get<string[]>('name') ?? [];
    const s = frame.server!;
    args.directive.args.forEach((arg, i) => {
      if (names[i] === undefined) return;
      cx.at(`${frame.pointer}/serverNames/${s.serverNames.length}`, arg.span, 'the server name');
      s.serverNames.push(names[i]);
    });
  },
};

const MODIFIERS: Record<string, LocationMatch> = { '=': 'exact', '^~': 'prefix-no-regex', '~': 'regex', '~*': 'regex-nocase' };

const location: DirectiveSpec = {
  name: 'location',
  contexts: ['server', 'location'],
  block: 'location',
  args: {
    positional: [
      { name: 'modifier', type: t.oneOf('=', '^~', '~', '~*'), optional: true },
      { name: 'path', type: t.text },
    ],
  },
  repeatable: true,
  summary: 'Settings for requests whose path matches: `= /exact`, `^~ /prefix` (skips regexes), `~ regex`, `~* case-insensitive regex`, or a plain `/prefix`. Chosen with nginx\'s precedence; see spec/routing.md.',
  example: 'location ~* \\.(png|jpg|gif)$ {\n    proxy_pass http://images;\n}',
  lower(cx, args, frame) {
    let modifier = args.get<string>('modifier');
    let path = args.get<string>('path') ?? '/';
    // nginx also accepts the modifier glued to the path: `location =/favicon.ico`.
    if (!modifier) {
      const glued = /^(=|\^~|~\*|~)(.+)$/.exec(path);
      if (glued && args.directive.args[0]?.kind === 'word') { modifier = glued[1]; path = glued[2]; }
    }
    const match = modifier ? MODIFIERS[modifier] : 'prefix';
    const l: LocationIR = { match, path, proxyPass: null, return: null, settings: emptySettings(), locations: [] };
    if ((match === 'exact' || match === 'prefix' || match === 'prefix-no-regex') && !path.startsWith('/')) {
      cx.diag('error', 'bad-location-path', `location path \`${path}\` must start with \`/\``, args.span('path'), path.startsWith('@') ? 'named locations are not supported' : `write \`/${path}\``);
    }
    const parent = frame.location ?? frame.server!;
    const pointer = `${frame.pointer}/locations/${parent.locations.length}`;
    parent.locations.push(l);
    cx.at(pointer, args.directive.span, '`location`');
    cx.at(`${pointer}/path`, args.span('path'), 'the location');
    return { context: 'location', server: frame.server, location: l, upstream: null, pointer, settings: {} };
  },
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

const returnDirective: DirectiveSpec = {
  name: 'return',
  contexts: ['server', 'location'],
  args: {
    positional: [
      { name: 'code', type: t.status, optional: true },
      { name: 'text', type: t.template, optional: true },
    ],
  },
  repeatable: false,
  summary: 'Answers at once, without proxying: `return CODE [TEXT];`, `return 301|302|303|307|308 URL;`, or `return URL;` (a 302). TEXT and URL may hold variables.',
  example: 'return 301 https://$host$request_uri;',
  lower(cx, args, frame) {
    const code = args.get<number>('code');
    const text = args.get<Template>('text') ?? null;
    if (code === undefined && text === null) {
      cx.diag('error', 'missing-argument', '`return` needs a status code or a URL', args.directive.span, 'write `return 404;` or `return 301 https://$host$request_uri;`');
      return;
    }
    let status = code ?? 302;
    if (code === undefined) {
      const written = args.directive.args[0];
      if (written && /^\d+$/.test(written.value)) {
        cx.diag('error', 'bad-argument', `\`${written.value}\` is not an HTTP status code (100 to 599)`, written.span);
        return;
      }
      const first = text![0];
      if (typeof first !== 'string' || !/^(https?:\/\/|\/)/.test(first)) {
        if (!(typeof first === 'object' && first.var === 'scheme')) {
          cx.diag('error', 'bad-argument', '`return` with one argument takes a URL (it answers 302)', args.span('text'), 'write `return 302 URL;` or give a status code first, as in `return 404 "not here";`');
          return;
        }
      }
      status = 302;
    }
    if (REDIRECTS.has(status) && text === null) {
      cx.diag('error', 'missing-argument', `\`return ${status}\` needs the URL to redirect to`, args.directive.span, `write \`return ${status} https://$host$request_uri;\``);
      return;
    }
    const owner = frame.location ?? frame.server!;
    owner.return = { status, text };
    cx.at(`${frame.pointer}/return/status`, args.span('code'), 'the status');
    if (text !== null) cx.at(`${frame.pointer}/return/text`, args.span('text'), 'the text');
  },
};

export const serverDirectives: DirectiveSpec[] = [server, listen, serverName, location, returnDirective];
