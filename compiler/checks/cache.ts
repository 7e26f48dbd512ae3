import { didYouMean } from '../suggest.ts';
import type { ProxySettingsIR } from '../ir.ts';
import { Reporter, walkLocations, type Check } from './check.ts';

/** `proxy_cache NAME` names a `proxy_cache_zone`. */
export const checkCache: Check = (input) => {
  const r = new Reporter(input);
  const zones = (input.ir.cacheZones ?? []).map((z) => z.name);
  // Inherited settings share the object written: report each `proxy_cache` once, where it is written.
  const seen = new Set<object>();
  const visit = (settings: ProxySettingsIR, pointer: string) => {
    const use = settings.cache;
    if (use === null || seen.has(use)) return;
    seen.add(use);
    if (zones.includes(use.name)) return;
    const hint = didYouMean(use.name, zones) ?? `define it at the top level: \`proxy_cache_zone ${use.name} size=64m;\``;
    r.report('error', 'unknown-cache-zone', `${pointer}/settings/cache`, `\`proxy_cache\` names cache zone \`${use.name}\`, which is not defined`, hint);
  };
  input.ir.servers.forEach((s, i) => visit(s.settings, `/servers/${i}`));
  for (const { location, pointer } of walkLocations(input.ir)) visit(location.settings, pointer);
  return r.out;
};
