import type { ArgType, Context, DirectiveSpec } from '../directive.ts';
import type { ProxySettingsIR } from '../ir.ts';

/**
 * The commonest directive: one argument, stored as one inherited setting, with
 * nginx's `NAME FALLBACK;` default (`proxy_cache_lock on;`, `client_max_body_size 1m;`).
 */
export function settingDirective<K extends keyof ProxySettingsIR>(
  name: string, key: K, type: ArgType<ProxySettingsIR[K]>, argName: string, contexts: readonly Context[],
  fallback: string, summary: string, example: string,
): DirectiveSpec {
  return {
    name, contexts, args: { positional: [{ name: argName, type }] },
    repeatable: false, default: `${name} ${fallback};`, summary, example,
    lower(cx, args, frame) {
      cx.setting(frame, key, args.get<ProxySettingsIR[K]>(argName)!, args.span(argName), `\`${name}\``);
    },
  };
}
