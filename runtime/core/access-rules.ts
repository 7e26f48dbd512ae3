import { BlockList, isIPv6 } from 'node:net';
import type { AccessRuleIR } from '../../compiler/ir.ts';

// allow/deny: rules in order, the first that matches the client decides; no
// match allows. Built once per location when a Plan is loaded.

interface Rule {
  allow: boolean;
  /** null matches everyone (`all`). */
  list: BlockList | null;
}

export class AccessRules {
  private readonly rules: Rule[];

  constructor(ir: readonly AccessRuleIR[]) {
    this.rules = ir.map((r) => {
      if (r.source === 'all') return { allow: r.action === 'allow', list: null };
      const [address, prefix] = r.source.split('/');
      const family = isIPv6(address) ? 'ipv6' : 'ipv4';
      const list = new BlockList();
      list.addSubnet(address, Number(prefix), family);
      return { allow: r.action === 'allow', list };
    });
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  allows(address: string): boolean {
    const family = isIPv6(address) ? 'ipv6' : 'ipv4';
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i];
      if (r.list === null || r.list.check(address, family)) return r.allow;
    }
    return true;
  }
}
