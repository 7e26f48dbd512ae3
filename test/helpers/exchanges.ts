import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Exchange } from '../../runtime/http/proxy.ts';

// Counts the proxy's Exchanges created and garbage-collected, without touching
// the runtime: for tests that nothing is left behind once requests end.

setFlagsFromString('--expose-gc');
/** Runs a full garbage collection. */
export const gc = runInNewContext('gc') as () => void;

export const exchanges = { created: 0, collected: 0 };

const registry = new FinalizationRegistry<void>(() => { exchanges.collected++; });
const start = Exchange.prototype.start;
Exchange.prototype.start = function (this: Exchange) {
  exchanges.created++;
  registry.register(this, undefined);
  start.call(this);
};
