import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';

// A zone's `size=` is the memory its entries take, not only their bodies and
// header text: a zone full of tiny responses used to take several times its
// size. 100k tiny responses (a 43-byte body, five header fields, one key in
// ten with two Vary variants) are stored into a 64 MiB zone through the
// store's own API, in a child process with --expose-gc; the heap's growth
// (heapUsed + external, after full GCs) must stay within 1.5× of the size, and
// not far below it either (a zone that counted too much would hold less than
// it could).

const SIZE = 64 * 1024 * 1024;
const COUNT = 100_000;

test(`100k tiny responses in a zone of size=64m take about 64 MiB of heap`, async () => {
  const script = fileURLToPath(new URL('./accounting-fill.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', script, String(SIZE), String(COUNT)], { timeout: 60_000 });
  const r = JSON.parse(stdout) as { size: number; bytes: number; highWater: number; entries: number; grown: number };
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const seen = `${r.entries} entries, counted ${mib(r.bytes)}, heap grew ${mib(r.grown)}`;
  assert.ok(r.highWater <= SIZE, `the zone never holds more than its size (${seen})`);
  assert.ok(r.entries > 20_000 && r.entries < COUNT, `the zone filled up and evicted (${seen})`);
  assert.ok(r.bytes > SIZE * 0.95, `the zone is full (${seen})`);
  assert.ok(r.grown <= SIZE * 1.5, `the heap grew by at most 1.5× the zone's size (${seen})`);
  assert.ok(r.grown >= SIZE / 1.5, `the zone counts roughly what it takes, not far more (${seen})`);
});
