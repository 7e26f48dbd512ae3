import { closest, didYouMean } from '../suggest.ts';
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
  return r.out;
};
