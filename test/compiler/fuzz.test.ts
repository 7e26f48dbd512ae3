import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, matchesGlob, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { checkText, type CheckResult } from '../../compiler/check.ts';
import { directiveNames } from '../../compiler/table.ts';
import type { ConfigHost } from '../../lang/include.ts';

// Property tests: whatever the text, checking it never throws, and every diagnostic
// points inside the file it names. Bounded: the whole file runs in a few seconds.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const validDir = join(root, 'spec/tests/valid');

/** The valid corpus, with its included files, served from memory so mutations never touch the disk. */
const files = new Map<string, string>();
function collect(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) collect(path);
    else if (entry.name.endsWith('.lbconf')) files.set(path, readFileSync(path, 'utf8'));
  }
}
collect(validDir);
const corpus = [...files.keys()].filter((p) => dirname(p) === validDir).sort();

const memoryHost: ConfigHost = {
  readFile: (path) => {
    const text = files.get(path);
    if (text === undefined) throw Object.assign(new Error('not in the corpus'), { code: 'ENOENT' });
    return text;
  },
  glob: (pattern) => [...files.keys()].filter((p) => matchesGlob(p, pattern)),
};

const SEVERITIES = new Set(['error', 'warning']);

/** Checks `source` as `path` and asserts every diagnostic is well formed and points inside its file. */
function checkAndValidate(source: string, path = join(validDir, 'fuzz.lbconf')): CheckResult {
  const result = checkText(source, path, memoryHost);
  assert.ok(Array.isArray(result.diagnostics));
  const texts = new Map(result.files.map((f) => [f.file, f.source]));
  for (const d of result.diagnostics) {
    assert.ok(SEVERITIES.has(d.severity), d.severity);
    assert.match(d.code, /^[a-z]+(-[a-z]+)*$/);
    assert.ok(typeof d.message === 'string' && d.message.length > 0);
    const text = texts.get(d.span.file);
    assert.ok(text !== undefined, `diagnostic in a file that was not read: ${d.span.file}`);
    const lines = text.split('\n');
    const { start, end } = d.span;
    for (const p of [start, end]) {
      assert.ok(Number.isInteger(p.line) && p.line >= 1 && p.line <= lines.length, `line ${p.line} of ${lines.length} (${d.code})`);
      assert.ok(Number.isInteger(p.column) && p.column >= 1 && p.column <= lines[p.line - 1].length + 1, `column ${p.column} on line ${p.line} (${d.code})`);
      assert.ok(p.offset >= 0 && p.offset <= text.length, `offset ${p.offset} (${d.code})`);
      // The offset and the line/column name the same place.
      // (lastIndexOf from -1 searches from 0: at offset 0 the line starts there, whatever the first character is.)
      const lineStart: number = p.offset === 0 ? 0 : text.lastIndexOf('\n', p.offset - 1) + 1;
      assert.equal(text.slice(0, p.offset).split('\n').length, p.line, `offset vs line (${d.code})`);
      assert.equal(p.offset - lineStart + 1, p.column, `offset vs column (${d.code})`);
    }
    assert.ok(end.offset >= start.offset, `span ends before it starts (${d.code})`);
  }
  return result;
}

/** Runs a property, reporting the text that failed. */
function property(arb: fc.Arbitrary<string>, numRuns: number, extra?: (source: string, result: CheckResult) => void): void {
  fc.assert(fc.property(arb, (source) => {
    const result = checkAndValidate(source);
    extra?.(source, result);
  }), { numRuns });
}

const TOKENS = [
  'server', 'upstream', 'location', 'listen', 'server_name', 'proxy_pass', 'return', 'include', 'hash', 'least_conn', 'sticky', 'health_check',
  'allow', 'deny', 'proxy_set_header', 'keepalive', 'http', 'lisen', '80', '443', '10.0.0.1:8080', '[::1]:80', 'http://app', 'app', '/', '/api/',
  '=', '^~', '~', '~*', '\\.png$', 'weight=2', 'weight=', '=x', 'backup', 'ssl', '$host', '${host}', '\\$', '$nope', '${', '1m30s', '16k', '0',
  '{', '}', ';', ' ', '\n', '\t', '\r\n', '"', "'", '"a b"', "'c d'", '"multi\nline"', '\\', '\\"', '#', '# comment\n', '\u00a0', '\uFEFF', '😀', 'é',
  'include conf.d/*.lbconf;', 'include nothing.lbconf;', 'include fuzz.lbconf;', 'include "conf.d/{upstream-a,locations}.lbconf";',
];

describe('fuzz: checkText never throws and every span is inside its file', () => {
  it('on random token soup', () => {
    const soup = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }), { maxLength: 80 })
      .map((parts) => parts.join(''));
    property(soup, 400);
  });

  it('on random soup joined by white space', () => {
    const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).chain((parts) =>
      fc.array(fc.constantFrom(' ', '\n', '', '  ', '\t'), { minLength: parts.length, maxLength: parts.length }).map((gaps) => parts.map((p, i) => p + gaps[i]).join('')));
    property(soup, 300);
  });

  it('on mutations of the valid corpus: characters deleted, duplicated and swapped', () => {
    const mutate = fc.record({
      file: fc.constantFrom(...corpus),
      edits: fc.array(fc.record({ kind: fc.constantFrom('delete', 'duplicate', 'swap', 'insert'), at: fc.nat(), len: fc.integer({ min: 1, max: 4 }), char: fc.constantFrom(...'{};"\'#\\ \n$=x') }), { minLength: 1, maxLength: 6 }),
    }).map(({ file, edits }) => {
      let text = files.get(file)!;
      for (const e of edits) {
        const at = text.length === 0 ? 0 : e.at % text.length;
        if (e.kind === 'delete') text = text.slice(0, at) + text.slice(at + e.len);
        else if (e.kind === 'duplicate') text = text.slice(0, at + e.len) + text.slice(at, at + e.len) + text.slice(at + e.len);
        else if (e.kind === 'insert') text = text.slice(0, at) + e.char + text.slice(at);
        else if (at + 1 < text.length) text = text.slice(0, at) + text[at + 1] + text[at] + text.slice(at + 2);
      }
      return text;
    });
    property(mutate, 300);
  });

  it('on mutations of the valid corpus: tokens deleted, duplicated and swapped', () => {
    const mutate = fc.record({
      file: fc.constantFrom(...corpus),
      edits: fc.array(fc.record({ kind: fc.constantFrom('delete', 'duplicate', 'swap'), at: fc.nat() }), { minLength: 1, maxLength: 4 }),
    }).map(({ file, edits }) => {
      // Split into tokens and the white space between them, keeping both.
      const parts = files.get(file)!.split(/(\s+|[{};])/).filter((p) => p !== '');
      for (const e of edits) {
        const i = e.at % parts.length;
        if (e.kind === 'delete') parts.splice(i, 1);
        else if (e.kind === 'duplicate') parts.splice(i, 0, parts[i]);
        else if (i + 2 < parts.length) [parts[i], parts[i + 2]] = [parts[i + 2], parts[i]];
        if (parts.length === 0) break;
      }
      return parts.join('');
    });
    property(mutate, 300);
  });

  // Well-formed directive trees, from the directive names and plausible arguments:
  // the text is syntactically correct, so only meaning can be wrong.
  const names = [...directiveNames(), 'include', 'unknown_thing', 'http'];
  const args = fc.oneof(
    fc.constantFrom('80', '8080', '10.0.0.1:8080', '[::1]:80', '*:80', 'example.com', '*.example.com', '/', '/api/', '=', '^~', '~', '~*', '^/img/.*\\.png$',
      'http://app', 'http://10.0.0.1:80/x', 'app', 'weight=3', 'max_fails=0', 'fail_timeout=30s', 'backup', 'down', 'default_server', 'ssl', 'consistent',
      'two', 'decay=5s', 'secret=0123456789abcdef', 'uri=/health', 'interval=1s', 'status=200-299', '$host', '$request_uri', '${scheme}', '30s', '1m30s',
      '0', '100001', 'all', '10.0.0.0/8', 'error', 'timeout', 'off', 'X-Forwarded-For', '301', '404', 'https://$host$request_uri', 'nothing/*.lbconf'),
    fc.stringMatching(/^[a-z0-9_.:/=$-]{1,12}$/),
    fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
  );
  interface Node { name: string; args: string[]; block: Node[] | null }
  const tree = fc.letrec<{ node: Node; nodes: Node[] }>((tie) => ({
    node: fc.record({
      name: fc.constantFrom(...names),
      args: fc.array(args, { maxLength: 4 }),
      block: fc.option(tie('nodes'), { freq: 2, nil: null }),
    }),
    nodes: fc.array(tie('node'), { maxLength: 4, depthIdentifier: 'tree' }),
  })).nodes;
  function render(nodes: Node[], indent = ''): string {
    return nodes.map((n) => {
      const head = `${indent}${[n.name, ...n.args].join(' ')}`;
      return n.block ? `${head} {\n${render(n.block, indent + '    ')}${indent}}\n` : `${head};\n`;
    }).join('');
  }
  const SYNTAX = new Set(['syntax', 'unterminated-string', 'missing-semicolon', 'unclosed-block', 'unexpected-close', 'empty-directive', 'extra-semicolon', 'bad-directive-name']);

  it('on generated directive trees, with no syntax error reported for well-formed text', () => {
    property(tree.map((nodes) => render(nodes)), 400, (source, result) => {
      const syntax = result.diagnostics.filter((d) => SYNTAX.has(d.code));
      assert.deepEqual(syntax.map((d) => `${d.code}: ${d.message}`), [], source);
    });
  });

  it('on every valid corpus file, unchanged: no diagnostics at all', () => {
    for (const file of corpus) {
      const result = checkAndValidate(files.get(file)!, file);
      assert.deepEqual(result.diagnostics.map((d) => d.code), [], file);
    }
  });
});
