import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BalanceMethodIR } from '../../../compiler/ir.ts';
import { PEER_DOWN, PEER_UP, type PeerState, seededRng, TriedSet } from '../../../runtime/upstream/balancers/balancer.ts';
import { type BalanceMethod, createBalancer } from '../../../runtime/upstream/balancers/index.ts';
import { peerSet, req } from './helpers.ts';

// The compiler's IR method is accepted as it is.
const fromIR: BalanceMethodIR = { kind: 'least_busy', decay: 5000 };
const accepted: BalanceMethod = fromIR;
void accepted;

const METHODS: BalanceMethod[] = [
  { kind: 'round_robin' },
  { kind: 'least_conn' },
  { kind: 'ip_hash' },
  { kind: 'hash', consistent: false },
  { kind: 'hash', consistent: true },
  { kind: 'hash', consistent: true, balanceFactor: 1.25 },
  { kind: 'random', two: false },
  { kind: 'random', two: true },
  { kind: 'least_busy' },
];

const server = fc.record({
  weight: fc.integer({ min: 1, max: 5 }),
  backup: fc.boolean(),
  state: fc.constantFrom<PeerState>(0, 0, 0, 1, 2, 3),
  maxConns: fc.integer({ min: 0, max: 2 }),
  inflight: fc.integer({ min: 0, max: 3 }),
  failedOut: fc.boolean(),
  slowStartMs: fc.constantFrom(0, 0, 1000),
  tried: fc.boolean(),
});

const scenario = fc.record({
  method: fc.constantFrom(...METHODS),
  servers: fc.array(server, { minLength: 0, maxLength: 10 }),
  seed: fc.integer(),
  keys: fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 4 }),
  addrs: fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('garbage')), { minLength: 1, maxLength: 3 }),
});

describe('every method (property)', () => {
  it('never picks a down, unhealthy, draining, failed, full or tried server; -1 only when none is eligible', () => {
    fc.assert(
      fc.property(scenario, ({ method, servers, seed, keys, addrs }) => {
        const now = 10_000;
        const peers = peerSet(servers.map((s) => ({
          weight: s.weight, backup: s.backup, down: s.state === PEER_DOWN, maxConns: s.maxConns,
          slowStartMs: s.slowStartMs, maxFails: 1, failTimeoutMs: 60_000,
        })));
        const b = createBalancer(method, peers, { rng: seededRng(seed) });
        const tried = new TriedSet(peers.n);
        servers.forEach((s, i) => {
          if (s.state !== PEER_UP && s.state !== PEER_DOWN) peers.setState(i, s.state, now - 500);
          if (s.failedOut) b.onEnd(i, 1, false, now - 100);
          for (let k = 0; k < s.inflight; k++) b.onStart(i, now - 50);
          if (s.tried) tried.add(i);
        });
        // nginx: a group of one server is never failed out by passive checks.
        const eligible = servers.map((s, i) =>
          s.state === PEER_UP && !(s.failedOut && servers.length > 1) && (s.maxConns === 0 || s.inflight < s.maxConns) && !s.tried && i >= 0);
        const anyPrimary = servers.some((s, i) => eligible[i] && !s.backup);
        const anyEligible = eligible.some(Boolean);
        for (let k = 0; k < 12; k++) {
          const i = b.pick(req(now + k, keys[k % keys.length], addrs[k % addrs.length]), tried);
          if (!anyEligible) {
            assert.equal(i, -1);
            continue;
          }
          assert.ok(i >= 0 && i < peers.n, `picked ${i} though a server is eligible`);
          assert.ok(eligible[i], `picked ineligible server ${i}`);
          if (anyPrimary) assert.ok(!servers[i].backup, `picked backup ${i} while a primary is eligible`);
        }
      }),
      { numRuns: 1500, seed: 20240601 },
    );
  });

  it('failover visits every eligible server exactly once, then returns -1', () => {
    fc.assert(
      fc.property(scenario, ({ method, servers, seed, keys, addrs }) => {
        const peers = peerSet(servers.map((s) => ({ weight: s.weight, backup: s.backup, down: s.state === PEER_DOWN })));
        const b = createBalancer(method, peers, { rng: seededRng(seed) });
        const tried = new TriedSet(peers.n);
        const up = servers.filter((s) => s.state !== PEER_DOWN).length;
        const seen = new Set<number>();
        for (let k = 0; k <= up; k++) {
          const i = b.pick(req(k, keys[0], addrs[0]), tried);
          if (k === up) {
            assert.equal(i, -1);
            break;
          }
          assert.ok(i >= 0 && !seen.has(i) && servers[i].state !== PEER_DOWN);
          seen.add(i);
          tried.add(i);
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});
