import type { Parsed } from './values.ts';

// Request variables, nginx's names. A template is text with `$name` or `${name}`
// in it; `\$` is a literal dollar sign.

/** A template as the IR keeps it: literal text and variable references, in order. */
export type Template = Array<string | { var: string }>;

export const VARIABLES: Record<string, string> = {
  remote_addr: 'the client address (after `real_ip_header`, when configured)',
  remote_port: 'the client port',
  host: 'the request host: the Host header without its port, or the server name',
  authority: 'the host and port the client asked for, as it sent them: the Host header, or the authority of an absolute-form target (what lbconf sends upstream as X-Forwarded-Host); empty when the request has none',
  request_uri: 'the original path and query, as the client sent them',
  uri: 'the normalized path, without the query',
  args: 'the query string, without `?`',
  is_args: '`?` when the request has a query string, else empty',
  scheme: '`http` or `https`',
  request_method: 'the method, as in GET or POST',
  server_name: 'the first `server_name` of the server block that matched',
  server_port: 'the port the request arrived on',
  server_addr: 'the local address the request arrived on',
  request_id: 'a unique id for the request (16 random bytes, hex)',
  proxy_add_x_forwarded_for: 'the client\'s X-Forwarded-For with `$remote_addr` appended',
  proxy_host: 'the upstream name or `host:port` written in `proxy_pass` (the Host header sent upstream by default)',
};

export const VARIABLE_PREFIXES: Record<string, string> = {
  http_: 'a request header: `$http_user_agent` is User-Agent (lower case, `_` for `-`)',
  arg_: 'a query argument: `$arg_page` is `2` in `?page=2`; as nginx, the first `page=` (the name in any case), its value as sent, not decoded',
  cookie_: 'a cookie: `$cookie_session` is the `session` cookie',
};

export function isKnownVariable(name: string): boolean {
  if (name in VARIABLES) return true;
  for (const prefix of Object.keys(VARIABLE_PREFIXES)) {
    if (name.startsWith(prefix) && name.length > prefix.length) return true;
  }
  return false;
}

/** Parses text into a template. Unknown variables are an error naming the first one. */
export function parseTemplate(text: string): Parsed<Template> {
  const parts: Template = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && text[i + 1] === '$') { literal += '$'; i++; continue; }
    if (ch !== '$') { literal += ch; continue; }
    let name: string;
    if (text[i + 1] === '{') {
      const close = text.indexOf('}', i + 2);
      if (close < 0) return { ok: false, message: `\`\${\` is never closed in \`${text}\`` };
      name = text.slice(i + 2, close);
      i = close;
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(text.slice(i + 1));
      if (!m) { literal += ch; continue; } // a lone `$`, as at the end of a regex
      name = m[0];
      i += name.length;
    }
    if (!isKnownVariable(name)) return { ok: false, message: `unknown variable \`$${name}\`` };
    if (literal) { parts.push(literal); literal = ''; }
    parts.push({ var: name });
  }
  if (literal) parts.push(literal);
  return { ok: true, value: parts };
}

export function templateText(template: Template): string {
  return template.map((p) => (typeof p === 'string' ? p.replaceAll('$', '\\$') : `\${${p.var}}`)).join('');
}
