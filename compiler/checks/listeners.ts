import { Reporter, type Check } from './check.ts';

/** Listeners that cannot both hold: TLS and plain on one port, two default servers, repeats; and host names served twice. */
export const checkListeners: Check = (input) => {
  const r = new Reporter(input);
  const byAddress = new Map<string, { ssl: boolean; pointer: string; defaultPointer: string | null; names: Map<string, number> }>();
  input.ir.servers.forEach((server, s) => {
    const mine = new Set<string>();
    server.listen.forEach((l, i) => {
      const pointer = `/servers/${s}/listen/${i}`;
      const key = `${l.address.includes(':') ? `[${l.address}]` : l.address}:${l.port}`;
      if (mine.has(key)) {
        r.report('error', 'duplicate-listen', pointer, `this server already listens on ${key}`, 'remove the repeated `listen`');
        return;
      }
      mine.add(key);
      const seen = byAddress.get(key);
      if (!seen) {
        byAddress.set(key, { ssl: l.ssl, pointer, defaultPointer: l.defaultServer ? pointer : null, names: new Map() });
      } else {
        if (seen.ssl !== l.ssl) {
          r.report('error', 'conflicting-listener', pointer, `${key} is ${l.ssl ? 'TLS here' : 'plain HTTP here'} but ${seen.ssl ? 'TLS' : 'plain HTTP'} at line ${r.span(seen.pointer).start.line}`, 'a port is either `ssl` or not: add or remove `ssl` so every `listen` on it agrees');
        }
        if (l.defaultServer) {
          if (seen.defaultPointer) {
            r.report('error', 'duplicate-default-server', pointer, `${key} already has a default server (line ${r.span(seen.defaultPointer).start.line})`, 'keep `default_server` on one `listen` per address');
          } else {
            seen.defaultPointer = pointer;
          }
        }
      }
    });
    for (const key of mine) {
      const names = byAddress.get(key)!.names;
      server.serverNames.forEach((name, n) => {
        const first = names.get(name);
        if (first !== undefined && first !== s) {
          r.report('warning', 'duplicate-server-name', `/servers/${s}/serverNames/${n}`, `server name ${name === '' ? '"" (no `server_name`)' : `\`${name}\``} on ${key} is already served by the server block at line ${r.span(`/servers/${first}`).start.line}; this one will never see it`, name === '' ? 'give each server block on this address its own `server_name`' : 'remove the name from one of the server blocks');
        } else {
          names.set(name, s);
        }
      });
    }
  });
  return r.out;
};
