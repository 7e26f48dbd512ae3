import safeRegex from 'safe-regex2';
import { Reporter, walkLocations, type Check } from './check.ts';

// Regexes are JavaScript regular expressions (the runtime matches with V8's
// engine), compiled once at load. A pattern that can backtrack catastrophically
// lets one crafted URL pin a CPU, so it is flagged (a heuristic: nested quantifiers).

function checkPattern(r: Reporter, pointer: string, pattern: string, flags: string, what: string): void {
  try {
    new RegExp(pattern, flags);
  } catch (err) {
    const reason = (err as Error).message.replace(/^Invalid regular expression: /, '');
    const hint = pattern.includes('(?P<') ? 'named groups are written (?<name>...) in lbconf' : 'lbconf uses JavaScript regular expressions';
    r.report('error', 'invalid-regex', pointer, `${what} is not a valid regular expression: ${reason}`, hint);
    return;
  }
  if (!safeRegex(pattern)) {
    r.report('warning', 'regex-backtracking', pointer, `${what} \`${pattern}\` can backtrack catastrophically: a crafted request could make matching take seconds`, 'avoid nested quantifiers such as (a+)+ or (\\w*)*; make the repeated parts unable to match the same text');
  }
}

export const checkRegexes: Check = (input) => {
  const r = new Reporter(input);
  for (const { location, pointer } of walkLocations(input.ir)) {
    if (location.match === 'regex' || location.match === 'regex-nocase') {
      checkPattern(r, `${pointer}/path`, location.path, location.match === 'regex-nocase' ? 'i' : '', 'the location');
    }
  }
  input.ir.servers.forEach((server, s) => {
    server.serverNames.forEach((name, n) => {
      if (name.startsWith('~')) checkPattern(r, `/servers/${s}/serverNames/${n}`, name.slice(1), 'i', 'the server name');
    });
  });
  input.ir.upstreams.forEach((u, i) => {
    if (u.healthCheck?.body) checkPattern(r, `/upstreams/${i}/healthCheck/body`, u.healthCheck.body, '', 'the health check `body=`');
  });
  return r.out;
};
