import type { Template } from '../../compiler/variables.ts';
import type { RequestContext } from './context.ts';
import { fieldValue, utf8Bytes } from './field-value.ts';

// Templates (`"$scheme://$host$request_uri"`) become plain functions once, when
// a Plan is loaded; per request they only read the context.

export type Evaluate = (ctx: RequestContext) => string;
/** A template whose value goes into a header field: null when the request's values cannot be carried there (runtime/core/field-value.ts). */
export type HeaderEvaluate = (ctx: RequestContext) => string | null;

/** `header`: the value goes into a header field, where the decoded path is written as its UTF-8 bytes. */
function variable(name: string, header: boolean): Evaluate {
  switch (name) {
    case 'remote_addr': return (c) => c.remoteAddr;
    case 'remote_port': return (c) => String(c.remotePort);
    case 'host': return (c) => c.host;
    case 'authority': return (c) => c.rawHost;
    case 'request_uri': return (c) => c.requestUri;
    case 'uri': return header ? (c) => utf8Bytes(c.uri) : (c) => c.uri;
    case 'args': return (c) => c.args;
    case 'is_args': return (c) => (c.args === '' ? '' : '?');
    case 'scheme': return (c) => c.scheme;
    case 'request_method': return (c) => c.req.method ?? 'GET';
    case 'server_name': return (c) => c.serverName;
    case 'server_port': return (c) => String(c.serverPort);
    case 'server_addr': return (c) => c.req.socket.localAddress ?? '';
    case 'request_id': return (c) => c.requestId;
    case 'proxy_add_x_forwarded_for': return (c) => c.addForwardedFor();
    case 'proxy_host': return (c) => c.proxyHost;
  }
  if (name.startsWith('http_')) {
    const header = name.slice(5).replaceAll('_', '-').toLowerCase();
    return (c) => c.header(header);
  }
  if (name.startsWith('cookie_')) {
    const cookie = name.slice(7);
    return (c) => c.cookie(cookie);
  }
  if (name.startsWith('arg_')) {
    const arg = name.slice(4).toLowerCase();
    return (c) => c.arg(arg);
  }
  // The compiler rejects unknown variables; a stale Plan must still not crash.
  return () => '';
}

export function compileTemplate(template: Template): Evaluate {
  return build(template, false);
}

function build(template: Template, header: boolean): Evaluate {
  if (template.length === 0) return () => '';
  if (template.length === 1) {
    const only = template[0];
    if (typeof only === 'string') return () => only;
    return variable(only.var, header);
  }
  return joinParts(template.map((p) => (typeof p === 'string' ? p : variable(p.var, header))));
}

/** Text and per-request values joined, per request, in order. */
export function joinParts(parts: ReadonlyArray<string | Evaluate>): Evaluate {
  if (parts.length === 1) { const only = parts[0]; return typeof only === 'string' ? () => only : only; }
  return (c) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      out += typeof p === 'string' ? p : p(c);
    }
    return out;
  };
}

/**
 * A template for a header field's value. Text alone is checked once, here (the
 * compiler refuses what cannot be carried); a value with variables is checked
 * per request, since it holds what the client sent.
 */
export function compileHeaderTemplate(template: Template): HeaderEvaluate {
  const evaluate = build(template, true);
  if (template.every((p) => typeof p === 'string')) {
    const value = fieldValue(template.join(''));
    return () => value;
  }
  return (c) => fieldValue(evaluate(c));
}
