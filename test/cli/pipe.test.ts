import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// `lbconf check FILE | head -1`: the reader leaves early; lbconf must stop quietly, not print a stack trace.

test('a reader that closes the pipe early gets no stack trace on stderr', async () => {
  const main = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
  // Many files with many diagnostics: many writes, most of them after the reader is gone.
  const config = fileURLToPath(new URL('../../spec/tests/invalid/several-mistakes.lbconf', import.meta.url));
  const child = spawn(process.execPath, [main, 'check', ...Array(200).fill(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.doesNotMatch(stderr, /\n\s+at |EPIPE/);
  assert.equal(code, 1, 'the exit status is still that of the check (errors found)');
});
