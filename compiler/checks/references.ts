import { closest, didYouMean } from '../suggest.ts';
import type { ProxySettingsIR } from '../ir.ts';
import { Reporter, walkLocations, type Check } from './check.ts';

/** `proxy_pass` targets exist; upstream names and their servers are unique; unused upstreams are noticed. */
export const checkReferences: Check = (input) => {
  const r = new Reporter(input);
  const { ir } = input;
  const named = new Map<string, number>();
  ir.upstreams.forEach((u, i) => {
    if (u.implicit || u.name === '') return; // '' when the name was in error, already reported
    const earlier = named.get(u.name);
    if (earlier !== undefined) {
      r.report('error', 'duplicate-upstream', `/upstreams/${i}/name`, `upstream \`${u.name}\` is already defined (line ${r.span(`/upstreams/${earlier}`).start.line})`, 'rename one of them or merge their servers');
    } else {
      named.set(u.name, i);
    }
    const addresses = new Map<string, number>();
    u.servers.forEach((s, j) => {
      const first = addresses.get(s.address);
      if (first !== undefined) {
        r.report('error', 'duplicate-server', `/upstreams/${i}/servers/${j}/address`, `server ${s.address} is already in upstream \`${u.name}\` (line ${r.span(`/upstreams/${i}/servers/${first}`).start.line})`, 'list each server once; use `weight=` to give it a larger share');
      } else {
        addresses.set(s.address, j);
      }
    });
  });
  const used = new Set<string>();
  for (const { location, pointer } of walkLocations(ir)) {
    const pass = location.proxyPass;
    if (!pass) continue;
    used.add(pass.upstream);
    if (ir.upstreams.some((u) => u.name === pass.upstream)) continue;
    const guess = closest(pass.upstream, named.keys());
    if (guess) used.add(guess); // a misspelt reference should not also call its target unused
    const hint = didYouMean(pass.upstream, named.keys()) ?? `define \`upstream ${pass.upstream} { server host:port; }\`, or write an address with its port, as in http://${pass.upstream}:8080`;
    r.report('error', 'unknown-upstream', `${pointer}/proxyPass/upstream`, `\`proxy_pass\` names upstream \`${pass.upstream}\`, which is not defined`, hint);
  }
  // A directive in error that names the upstream (`proxy_pas http://app`) was probably
  // meant to use it: then the upstream looking unused is no news.
  const unread = input.unread ?? [];
  ir.upstreams.forEach((u, i) => {
    if (!u.implicit && !used.has(u.name) && named.get(u.name) === i && !unread.some((text) => text.includes(u.name))) {
      r.report('warning', 'unused-upstream', `/upstreams/${i}/name`, `upstream \`${u.name}\` is never used by a \`proxy_pass\``, 'remove it, or add `proxy_pass http://' + u.name + ';` to a location');
    }
  });
  checkZones(input, r);
  return r.out;
};

/** `limit_req zone=NAME`, `auth_basic_limit zone=NAME` and `limit_conn NAME N` name a zone of the right kind. */
function checkZones(input: Parameters<Check>[0], r: Reporter): void {
  const zones = input.ir.limitZones ?? [];
  const visit = (settings: ProxySettingsIR, pointer: string, seen: Set<object>) => {
    const uses: Array<{ kind: 'req' | 'conn'; zone: string; at: string; list: object; directive?: string }> = [
      ...settings.limitReq.map((u, i) => ({ kind: 'req' as const, zone: u.zone, at: `${pointer}/settings/limitReq/${i}/zone`, list: u })),
      ...settings.limitConn.map((u, i) => ({ kind: 'conn' as const, zone: u.zone, at: `${pointer}/settings/limitConn/${i}/zone`, list: u })),
      ...(settings.authBasicLimit ? [{ kind: 'req' as const, zone: settings.authBasicLimit.zone, at: `${pointer}/settings/authBasicLimit/zone`, list: settings.authBasicLimit, directive: 'auth_basic_limit' }] : []),
    ];
    for (const use of uses) {
      // Inherited lists are the same objects: report each written use once.
      if (seen.has(use.list)) continue;
      seen.add(use.list);
      if (zones.some((z) => z.kind === use.kind && z.name === use.zone)) continue;
      const directive = use.directive ?? (use.kind === 'req' ? 'limit_req' : 'limit_conn');
      const other = zones.find((z) => z.name === use.zone);
      const names = zones.filter((z) => z.kind === use.kind).map((z) => z.name);
      const hint = other
        ? `\`${use.zone}\` is a \`${other.kind === 'req' ? 'limit_req_zone' : 'limit_conn_zone'}\`; \`${directive}\` needs a \`${use.kind === 'req' ? 'limit_req_zone' : 'limit_conn_zone'}\``
        : didYouMean(use.zone, names) ?? `define it at the top level: \`${use.kind === 'req' ? `limit_req_zone $remote_addr zone=${use.zone}:10m rate=10r/s;` : `limit_conn_zone $remote_addr zone=${use.zone}:10m;`}\``;
      r.report('error', 'unknown-zone', use.at, `\`${directive}\` names zone \`${use.zone}\`, which is not defined${other ? ' for it' : ''}`, hint);
    }
  };
  const seen = new Set<object>();
  input.ir.servers.forEach((s, i) => visit(s.settings, `/servers/${i}`, seen));
  for (const { location, pointer } of walkLocations(input.ir)) visit(location.settings, pointer, seen);
}
