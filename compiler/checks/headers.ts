import type { Template } from '../variables.ts';
import type { ProxySettingsIR } from '../ir.ts';
import { Reporter, walkLocations, type Check } from './check.ts';

/** What a header field cannot carry: CR, LF, NUL and the other controls but tab. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

function hasControl(t: Template | null): boolean {
  return t !== null && t.some((p) => typeof p === 'string' && CONTROL.test(p));
}

/**
 * A header value written in the config (`add_header`, `proxy_set_header`, a
 * redirect's Location) with a control character in its text would split the
 * header or the response: an error here, since every request would be refused.
 * What variables add is checked per request (runtime/core/field-value.ts).
 */
export const checkHeaders: Check = (input) => {
  const r = new Reporter(input);
  const hint = 'remove it: a header value is one line of text (an escape such as \\n in a quoted string makes a control character)';
  // Only where the value is written: a level that inherits it has no source of its own for it.
  const written = (pointer: string) => input.locs.has(pointer);
  const look = (s: ProxySettingsIR, pointer: string) => {
    s.addHeaders.forEach((h, i) => {
      if (hasControl(h.value) && written(`${pointer}/settings/addHeaders/${i}`)) r.report('error', 'header-control-character', `${pointer}/settings/addHeaders/${i}`, `\`add_header ${h.name}\`: the value holds a control character, which a header cannot carry`, hint);
    });
    s.setHeaders.forEach((h, i) => {
      if (hasControl(h.value) && written(`${pointer}/settings/setHeaders/${i}`)) r.report('error', 'header-control-character', `${pointer}/settings/setHeaders/${i}`, `\`proxy_set_header ${h.name}\`: the value holds a control character, which a header cannot carry`, hint);
    });
  };
  input.ir.servers.forEach((server, s) => look(server.settings, `/servers/${s}`));
  for (const { location, pointer } of walkLocations(input.ir)) {
    look(location.settings, pointer);
    const ret = location.return;
    if (ret !== null && [301, 302, 303, 307, 308].includes(ret.status) && hasControl(ret.text)) {
      r.report('error', 'header-control-character', `${pointer}/return/text`, `\`return ${ret.status}\`: the Location holds a control character, which a header cannot carry`, hint);
    }
  }
  return r.out;
};
