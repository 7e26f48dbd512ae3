import * as t from '../arg-types.ts';
import type { ArgType, DirectiveSpec } from '../directive.ts';
import type { ErrorPageIR, LimitReqIR } from '../ir.ts';
import type { Cidr } from '../values.ts';
import { settingDirective } from './setting.ts';

// Hiding the backends (proxy_hide_header, proxy_pass_header, server_tokens,
// error_page), the real client address behind trusted proxies
// (set_real_ip_from, real_ip_header, real_ip_recursive) and basic
// authentication (auth_basic, auth_basic_user_file, auth_basic_limit). See
// spec/security.md.

/** Paths are relative to the file that names them. */

const HTTP_CONTEXTS = ['main', 'server', 'location'] as const;

function headerList(name: 'proxy_hide_header' | 'proxy_pass_header', key: 'hideHeaders' | 'passHeaders', summary: string, example: string, fallback?: string): DirectiveSpec {
  return {
    name, contexts: HTTP_CONTEXTS,
    args: { positional: [{ name: 'header', type: t.headerName }] },
    repeatable: true, summary, example, ...(fallback ? { default: fallback } : {}),
    lower(cx, args, frame) {
      const list = (frame.settings[key] ??= []);
      cx.at(`${frame.pointer}/settings/${key}/${list.length}`, args.directive.span, `\`${name}\``);
      const header = args.get<string>('header')!.toLowerCase();
      if (!list.includes(header)) list.push(header);
    },
  };
}

const serverTokens = settingDirective(
  'server_tokens', 'serverTokens', t.onOff, 'switch', HTTP_CONTEXTS, 'off',
  'With `on`, responses carry `Server: lbconf` (never a version). With `off`, the default, lbconf sends no `Server` header of its own, and the upstream\'s is hidden unless `proxy_pass_header Server;`.',
  'server_tokens on;',
);

/** `404`, `502`: a status lbconf may answer with by itself; anything else is the body. */
const codeOrBody: ArgType<number | string> = {
  name: 'status',
  parse: (v, arg) => {
    if (!/^\d+$/.test(v) || arg.kind !== 'word') return { ok: true, value: v };
    const s = t.status.parse(v, arg);
    if (!s.ok) return s;
    if (s.value < 400) return { ok: false, message: `\`${v}\` is not an error status: \`error_page\` takes 400 to 599` };
    return s;
  },
};

const errorPage: DirectiveSpec = {
  name: 'error_page',
  contexts: HTTP_CONTEXTS,
  args: {
    positional: [{ name: 'code', type: codeOrBody, variadic: true }],
    options: {
      file: { type: t.file, doc: 'read the body from this file (relative to the config file) when the config loads' },
      type: { type: t.text, doc: 'the Content-Type of the body (default `text/html; charset=utf-8` when it starts with `<`, else `text/plain; charset=utf-8`)' },
    },
  },
  repeatable: true,
  summary: '`error_page CODE... BODY` or `error_page CODE... file=PATH`: lbconf\'s own body for the errors it answers itself (400, 403, 404, 413, 429, 502, 503, 504, …): the text written in place, or `file=PATH`. Upstream responses pass through unchanged. A level with `error_page` does not inherit the outer level\'s. Unlike nginx, the page is a body, not a URI to redirect or proxy to: nginx\'s `error_page 500 502 /50x.html;` (a URI, `@name` or `=code`) is refused with an error until lbconf has internal redirects.',
  example: 'error_page 502 503 504 "<html><body><h1>We will be right back</h1></body></html>";',
  lower(cx, args, frame) {
    // `error_page CODE... BODY`: the codes, then the body as the last argument.
    const values = args.get<Array<number | string>>('code') ?? [];
    const codes = values.filter((v): v is number => typeof v === 'number');
    const texts = values.filter((v): v is string => typeof v === 'string');
    const file = args.get<string>('file');
    if (texts.length > 1 || (texts.length === 1 && typeof values[values.length - 1] !== 'string')) {
      cx.diag('error', 'bad-argument', `\`${texts[0]}\` is not an HTTP status code (400 to 599); the body comes last`, args.span('code'), 'write `error_page 502 503 "<html>…</html>";`');
      return;
    }
    if (codes.length === 0) {
      cx.diag('error', 'missing-argument', '`error_page` needs at least one status code', args.directive.span, 'write `error_page 502 503 "<html>…</html>";`');
      return;
    }
    const body = texts[0];
    if ((body === undefined) === (file === undefined)) {
      cx.diag('error', body === undefined ? 'missing-argument' : 'bad-argument', body === undefined ? '`error_page` needs a body or `file=`' : '`error_page` takes a body or `file=`, not both', args.directive.span, 'write `error_page 502 503 "<html>…</html>";` or `error_page 502 503 file=errors/5xx.html;`');
      return;
    }
    // nginx's `error_page 500 502 /50x.html;` (a URI, `@name`, `=code`) is an internal redirect there: never a body here.
    if (body !== undefined && /^(?:\/|@|=)/.test(body)) {
      cx.diag('error', 'bad-argument', `\`${body}\` is a URI or a named location: nginx redirects to it internally, which lbconf does not do yet; it would be sent as the body's text`, args.span('code'),
        `give the page itself: \`error_page ${codes.join(' ')} file=html${body.startsWith('/') ? body : '/50x.html'};\` (a file, relative to this config) or the body in quotes`);
      return;
    }
    const text = body ?? '';
    const type = args.get<string>('type') ?? (file !== undefined ? (/\.html?$/i.test(file) ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8') : text.trimStart().startsWith('<') ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
    const page: ErrorPageIR = { codes, body: body ?? null, file: file ?? null, type };
    const list = (frame.settings.errorPages ??= []);
    cx.at(`${frame.pointer}/settings/errorPages/${list.length}`, args.directive.span, '`error_page`');
    list.push(page);
  },
};

const setRealIpFrom: DirectiveSpec = {
  name: 'set_real_ip_from',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'address', type: t.cidr }] },
  repeatable: true,
  summary: 'A trusted proxy (an address, a CIDR range, or `all`): from these peers only, `real_ip_header` gives the client address, and their `X-Forwarded-For` is kept and extended. From anyone else the header is ignored and X-Forwarded-For replaced.',
  example: 'set_real_ip_from 10.0.0.0/8;',
  lower(cx, args, frame) {
    const c = args.get<Cidr>('address')!;
    const list = (frame.settings.realIpFrom ??= []);
    cx.at(`${frame.pointer}/settings/realIpFrom/${list.length}`, args.directive.span, '`set_real_ip_from`');
    list.push(c.family === 'all' ? 'all' : `${c.address}/${c.prefix}`);
  },
};

const realIpHeader: DirectiveSpec = {
  name: 'real_ip_header',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'header', type: t.headerName }] },
  repeatable: false,
  default: 'real_ip_header X-Real-IP;',
  summary: 'The request header that holds the client address when the peer is trusted (`set_real_ip_from`): `X-Real-IP`, `X-Forwarded-For` (a list: see `real_ip_recursive`), or another header holding one address.',
  example: 'real_ip_header X-Forwarded-For;',
  lower(cx, args, frame) {
    cx.setting(frame, 'realIpHeader', args.get<string>('header')!.toLowerCase(), args.span('header'), '`real_ip_header`');
  },
};

const realIpRecursive = settingDirective(
  'real_ip_recursive', 'realIpRecursive', t.onOff, 'switch', HTTP_CONTEXTS, 'off',
  'With `off`, the client address is the last address of the header; with `on`, the last one that is not itself a trusted proxy, as in nginx.',
  'real_ip_recursive on;',
);

const authBasic: DirectiveSpec = {
  name: 'auth_basic',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'realm', type: t.text }] },
  repeatable: false,
  default: 'auth_basic off;',
  summary: 'Asks for a user name and password (HTTP Basic authentication) checked against `auth_basic_user_file`; a request without valid ones gets 401 with `WWW-Authenticate: Basic realm="…"`. `off` turns an outer level\'s off. Use it over TLS only.',
  example: 'auth_basic "staff only";',
  lower(cx, args, frame) {
    const realm = args.get<string>('realm')!;
    if (/["\\\r\n]/.test(realm)) {
      cx.diag('error', 'bad-argument', 'the realm cannot contain `"`, `\\` or a line break', args.span('realm'));
      return;
    }
    cx.setting(frame, 'authBasic', realm === 'off' ? null : realm, args.span('realm'), '`auth_basic`');
  },
};

const authBasicUserFile: DirectiveSpec = {
  name: 'auth_basic_user_file',
  contexts: HTTP_CONTEXTS,
  args: { positional: [{ name: 'file', type: t.file }] },
  repeatable: false,
  summary: 'The users for `auth_basic`: lines of `name:hash`, with `{SHA}` (base64 SHA-1, as `htpasswd -s` writes), `{SSHA}` (salted SHA-1) or `$scrypt$…` hashes (see spec/security.md). Relative to the file that names it; read when the config loads.',
  example: 'auth_basic_user_file users.htpasswd;',
  lower(cx, args, frame) {
    cx.setting(frame, 'authBasicUserFile', args.get<string>('file')!, args.span('file'), '`auth_basic_user_file`');
  },
};

const authBasicLimit: DirectiveSpec = {
  name: 'auth_basic_limit',
  contexts: HTTP_CONTEXTS,
  args: {
    positional: [],
    options: {
      zone: { type: t.name, doc: 'a `limit_req_zone`: its key says who is counted (`$remote_addr`: the client, after `set_real_ip_from`), its `rate=` how many password checks each may make' },
      burst: { type: t.integer, doc: 'how many checks over the rate a key may make before it is refused (default 0; 5 leaves room for typing mistakes)' },
    },
    flags: { off: 'lifts an outer level\'s limit' },
  },
  repeatable: false,
  summary: 'lbconf: limits password guessing for `auth_basic`, per key of a `limit_req_zone` (per client with `$remote_addr`). Each password lbconf has to check counts: a wrong one, an unknown user, a first right one. A login already verified is remembered and not counted, nor is a request without credentials. Past the zone\'s rate and `burst=`, the client gets 429 with `Retry-After` and its password is not hashed at all; other clients log in as usual. Give it a zone of its own (a `limit_req` on the same zone shares its counts). nginx has no such directive (fail2ban on the error log is the usual stand-in).',
  example: 'auth_basic_limit zone=login burst=5;',
  lower(cx, args, frame) {
    const zone = args.get<string>('zone');
    if (args.flags.has('off')) {
      if (zone !== undefined || args.has('burst')) cx.diag('error', 'bad-argument', '`auth_basic_limit off` takes no other argument', args.directive.span);
      else cx.setting(frame, 'authBasicLimit', null, args.directive.span, '`auth_basic_limit`');
      return;
    }
    if (zone === undefined) {
      if (!args.directive.args.some((a) => a.kind === 'word' && a.value.startsWith('zone='))) {
        cx.diag('error', 'missing-argument', '`auth_basic_limit` needs `zone=NAME` (a `limit_req_zone`)', args.directive.span, 'write `limit_req_zone $remote_addr zone=login:1m rate=10r/m;` at the top level and `auth_basic_limit zone=login burst=5;`');
      }
      return;
    }
    // The zone's key, rate and size are copied in when the config is resolved (compiler/inherit.ts).
    const ir: LimitReqIR = { zone, burst: args.get<number>('burst') ?? 0, nodelay: false, key: [], rate: 0, keys: 0 };
    cx.setting(frame, 'authBasicLimit', ir, args.directive.span, '`auth_basic_limit`');
    cx.at(`${frame.pointer}/settings/authBasicLimit/zone`, args.span('zone'), '`auth_basic_limit`');
    cx.at(`${frame.pointer}/settings/authBasicLimit/burst`, args.span('burst'), '`burst`');
  },
};

export const securityDirectives: DirectiveSpec[] = [
  headerList('proxy_hide_header', 'hideHeaders', 'A response header of the upstream that is not passed to the client. `Server` and `X-Powered-By` are always hidden unless `proxy_pass_header` names them. A level that hides any header does not inherit the outer level\'s list, as in nginx.', 'proxy_hide_header X-Runtime;', 'Server and X-Powered-By'),
  headerList('proxy_pass_header', 'passHeaders', 'Passes a header that is hidden by default (`Server`, `X-Powered-By`) to the client after all.', 'proxy_pass_header Server;'),
  serverTokens,
  errorPage,
  setRealIpFrom,
  realIpHeader,
  realIpRecursive,
  authBasic,
  authBasicUserFile,
  authBasicLimit,
];
