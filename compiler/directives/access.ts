import * as t from '../arg-types.ts';
import type { DirectiveSpec } from '../directive.ts';
import type { Cidr } from '../values.ts';

// `allow` and `deny`, checked in order; the first rule that matches the client decides.

function rule(action: 'allow' | 'deny'): DirectiveSpec {
  return {
    name: action,
    contexts: ['main', 'server', 'location'],
    args: { positional: [{ name: 'address', type: t.cidr }] },
    repeatable: true,
    summary: `${action === 'allow' ? 'Allows' : 'Denies (403)'} clients by address: an IPv4 or IPv6 address, a CIDR range, or \`all\`. Rules are checked in order and the first match decides; a level with rules does not inherit the outer level's.`,
    example: action === 'allow' ? 'allow 10.0.0.0/8;' : 'deny all;',
    lower(cx, args, frame) {
      const c = args.get<Cidr>('address')!;
      const list = (frame.settings.access ??= []);
      cx.at(`${frame.pointer}/settings/access/${list.length}`, args.directive.span, `\`${action}\``);
      list.push({ action, source: c.family === 'all' ? 'all' : `${c.address}/${c.prefix}` });
    },
  };
}

export const accessDirectives: DirectiveSpec[] = [rule('allow'), rule('deny')];
