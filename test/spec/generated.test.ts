import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { directiveReference, schemaJson } from '../../scripts/gen-spec.ts';

// spec/directives.md and the published schema are generated from the code; a
// change to the directive table must come with the regenerated files.

test('spec/directives.md is generated from the directive table and up to date', () => {
  const onDisk = readFileSync(new URL('../../spec/directives.md', import.meta.url), 'utf8');
  assert.equal(onDisk, directiveReference(), 'run `npm run gen-spec` and commit the result');
});

test('spec/lbconf-ir.schema.json matches compiler/schema.ts', () => {
  const onDisk = readFileSync(new URL('../../spec/lbconf-ir.schema.json', import.meta.url), 'utf8');
  assert.equal(onDisk, schemaJson(), 'run `npm run gen-spec` and commit the result');
});

test('every directive in the table is documented with a summary and an example that uses it', async () => {
  const { DIRECTIVES } = await import('../../compiler/table.ts');
  for (const d of DIRECTIVES) {
    assert.ok(d.summary.length > 20, `${d.name} needs a summary`);
    assert.ok(d.example.includes(d.name), `${d.name}'s example should use it`);
  }
});
