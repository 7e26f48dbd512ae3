import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkFile } from '../../compiler/check.ts';
import { displayPath } from '../../lang/include.ts';
import type { Diagnostic } from '../../lang/diagnostic.ts';

// Runs the conformance corpus (spec/tests/README.md): every file in valid/ must
// check clean, and every file in invalid/ must give exactly the diagnostics its
// `# expect:` lines list: none missing, none extra.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const corpus = join(root, 'spec/tests');

interface Expectation {
  /** Absolute path of the file the diagnostic is in. */
  file: string;
  line: number;
  column: number;
  severity: string;
  code: string;
  /** Text that must appear in the message or the hint. */
  text: string;
  /** Where the expectation is written, for messages. */
  source: string;
}

const EXPECT = /^\s*#\s*expect:\s*(.*)$/;
const BODY = /^(?:(\S+\.lbconf):)?(\d+):(\d+)\s+(error|warning)\s+([a-z]+(?:-[a-z]+)*)(?:\s+(.*?))?\s*$/;

/** The `# expect:` lines of a corpus file. */
export function parseExpectations(path: string, text: string): Expectation[] {
  const out: Expectation[] = [];
  text.split('\n').forEach((line, i) => {
    const m = EXPECT.exec(line);
    if (!m) return;
    const b = BODY.exec(m[1]);
    if (!b) throw new Error(`${relative(root, path)}:${i + 1}: malformed expectation: ${line.trim()}`);
    out.push({
      file: b[1] ? resolve(dirname(path), b[1]) : path,
      line: Number(b[2]), column: Number(b[3]), severity: b[4], code: b[5], text: b[6] ?? '',
      source: `${relative(root, path)}:${i + 1}`,
    });
  });
  return out;
}

function corpusFiles(folder: string): string[] {
  return readdirSync(join(corpus, folder)).filter((f) => f.endsWith('.lbconf')).sort().map((f) => join(corpus, folder, f));
}

function show(file: string, line: number, column: number, severity: string, code: string): string {
  return `${relative(root, file)}:${line}:${column} ${severity} ${code}`;
}

function key(d: Diagnostic): string {
  return show(resolve(d.span.file), d.span.start.line, d.span.start.column, d.severity, d.code);
}

/** Messages name files as the CLI shows them; expectations name them relative to the test file's folder. */
function localize(text: string, entry: string): string {
  const folder = dirname(entry);
  return text.split(`${displayPath(folder)}/`).join('').split(`${folder}/`).join('');
}

function check(path: string): { expected: Expectation[]; actual: Diagnostic[] } {
  const expected = parseExpectations(path, readFileSync(path, 'utf8'));
  return { expected, actual: checkFile(path).diagnostics };
}

/** Pairs expectations with diagnostics; returns what is missing and what is extra, as readable lines. */
function compare(path: string, expected: Expectation[], actual: Diagnostic[]): { missing: string[]; extra: string[] } {
  const left = [...actual];
  const missing: string[] = [];
  for (const e of expected) {
    const want = show(e.file, e.line, e.column, e.severity, e.code);
    const i = left.findIndex((d) => key(d) === want && (localize(d.message, path).includes(e.text) || localize(d.hint ?? '', path).includes(e.text)));
    if (i < 0) missing.push(`${want}${e.text ? ` "${e.text}"` : ''}  (expected at ${e.source})`);
    else left.splice(i, 1);
  }
  return { missing, extra: left.map((d) => `${key(d)}: ${d.message}`) };
}

describe('conformance corpus: valid', () => {
  const files = corpusFiles('valid');
  it('has files', () => assert.ok(files.length >= 5));
  for (const path of files) {
    it(`${relative(corpus, path)} checks clean`, () => {
      const { expected, actual } = check(path);
      assert.deepEqual(expected, [], 'a valid file has no expectations');
      assert.deepEqual(actual.map((d) => `${key(d)}: ${d.message}`), []);
    });
  }
});

describe('conformance corpus: invalid', () => {
  const files = corpusFiles('invalid');
  for (const path of files) {
    it(`${relative(corpus, path)} gives exactly the expected diagnostics`, () => {
      const { expected, actual } = check(path);
      assert.ok(expected.length > 0, 'an invalid file lists at least one expectation');
      assert.deepEqual(compare(path, expected, actual), { missing: [], extra: [] });
    });
  }
});

// Every code the front end can emit: found in the source, documented in
// spec/diagnostics.md, and produced by at least one file of the invalid corpus.

const SOURCE_CODE = /(?:this\.error\(|(?:diag|report)\('(?:error|warning)',\s*|code:\s*)'([a-z]+(?:-[a-z]+)*)'/g;

function codesInSource(): Set<string> {
  const codes = new Set<string>();
  for (const folder of ['lang', 'compiler', 'compiler/checks', 'compiler/directives']) {
    for (const f of readdirSync(join(root, folder))) {
      if (!f.endsWith('.ts') || f === 'format.ts') continue;
      for (const m of readFileSync(join(root, folder, f), 'utf8').matchAll(SOURCE_CODE)) codes.add(m[1]);
    }
  }
  return codes;
}

function codesDocumented(): Map<string, string> {
  const text = readFileSync(join(root, 'spec/diagnostics.md'), 'utf8');
  const codes = new Map<string, string>();
  for (const m of text.matchAll(/^### `([a-z-]+)`\s*\n+\*\*Severity:\*\* (error|warning)/gm)) codes.set(m[1], m[2]);
  return codes;
}

describe('conformance corpus: coverage', () => {
  it('finds the codes in the source', () => {
    const codes = codesInSource();
    assert.ok(codes.size >= 40, `only ${codes.size} codes found: has the way diagnostics are written changed?`);
    assert.ok(codes.has('missing-semicolon') && codes.has('syntax') && codes.has('invalid-value') && codes.has('no-handler'));
  });

  it('documents every code in spec/diagnostics.md, and no other', () => {
    assert.deepEqual([...codesDocumented().keys()].sort(), [...codesInSource()].sort());
  });

  it('produces every documented code, with its documented severity, somewhere in the invalid corpus', () => {
    const produced = new Map<string, Set<string>>();
    for (const path of corpusFiles('invalid')) {
      for (const d of checkFile(path).diagnostics) {
        const severities = produced.get(d.code) ?? new Set<string>();
        severities.add(d.severity);
        produced.set(d.code, severities);
      }
    }
    for (const [code, severity] of codesDocumented()) {
      assert.deepEqual([...(produced.get(code) ?? [])], [severity], `code ${code}`);
    }
  });

  it('has a file with several independent mistakes, each reported', () => {
    const path = join(corpus, 'invalid/several-mistakes.lbconf');
    const { expected, actual } = check(path);
    assert.ok(new Set(expected.map((e) => e.code)).size >= 10);
    assert.equal(actual.length, expected.length);
  });
});

describe('conformance corpus: the expectation format', () => {
  it('reads line, column, severity, code and an optional text', () => {
    const [a, b, c] = parseExpectations('/x/t.lbconf', 'server {\n# expect: 7:14 error missing-semicolon\n  #expect:  1:2 warning no-handler requests here get 404\n# expect: inc/a.lbconf:3:9 error include-cycle\n');
    assert.deepEqual({ ...a, source: '' }, { file: '/x/t.lbconf', line: 7, column: 14, severity: 'error', code: 'missing-semicolon', text: '', source: '' });
    assert.equal(b.text, 'requests here get 404');
    assert.equal(b.severity, 'warning');
    assert.equal(c.file, '/x/inc/a.lbconf');
  });

  it('rejects a malformed expectation instead of ignoring it', () => {
    assert.throws(() => parseExpectations('/x/t.lbconf', '# expect: 7 error missing-semicolon\n'), /malformed expectation/);
    assert.throws(() => parseExpectations('/x/t.lbconf', '# expect: 7:1 fatal missing-semicolon\n'), /malformed expectation/);
  });
});
