import { Reporter, type Check } from './check.ts';

/** Upstreams that can never serve, and server flags their method cannot honour. */
export const checkUpstreams: Check = (input) => {
  const r = new Reporter(input);
  input.ir.upstreams.forEach((u, i) => {
    const pointer = `/upstreams/${i}`;
    if (u.servers.length === 0) return; // the schema reports it
    const hashing = u.method.kind === 'ip_hash' || u.method.kind === 'hash' || u.method.kind === 'random';
    u.servers.forEach((s, j) => {
      if (s.backup && hashing) {
        r.report('error', 'backup-with-hash', `${pointer}/servers/${j}`, `\`backup\` cannot be used with \`${u.method.kind}\`: a hash or random choice has no notion of a primary`, 'remove `backup`, or balance this upstream with round robin or least_conn');
      }
    });
    if (u.servers.every((s) => s.down)) {
      r.report('warning', 'no-usable-server', `${pointer}/name`, `every server of upstream \`${u.name}\` is marked \`down\`: requests to it will get 503`, 'remove `down` from at least one server');
    } else if (u.servers.every((s) => s.down || s.backup)) {
      r.report('warning', 'no-usable-server', `${pointer}/name`, `upstream \`${u.name}\` has only \`backup\` or \`down\` servers: there is no primary to serve normally`, 'make at least one server a primary (no `backup`)');
    }
  });
  return r.out;
};
