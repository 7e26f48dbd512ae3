import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Directive } from '../../lang/ast.ts';
import { displayPath, loadConfig, loadConfigText, UnreadableFileError, type ConfigHost } from '../../lang/include.ts';

let dir: string;

function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** Names and first arguments, with blocks, in order. */
function shape(list: Directive[]): unknown[] {
  return list.map((d) => (d.block ? [`${d.name} ${d.args[0]?.value ?? ''}`.trim(), shape(d.block)] : `${d.name} ${d.args.map((a) => a.value).join(' ')}`.trim()));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbconf-include-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('include', () => {
  it('puts the included directives in place of the include, in any block', () => {
    write({
      'place/main.lbconf': 'first;\ninclude top.lbconf;\nserver {\n    include inner.lbconf;\n    last;\n}\n',
      'place/top.lbconf': 'from_top 1;\nfrom_top 2;\n',
      'place/inner.lbconf': 'location / { inner; }\n',
    });
    const loaded = loadConfig(join(dir, 'place/main.lbconf'));
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['first', 'from_top 1', 'from_top 2', ['server', [['location /', ['inner']], 'last']]]);
    assert.deepEqual(loaded.files.map((f) => f.file), ['main.lbconf', 'top.lbconf', 'inner.lbconf'].map((f) => displayPath(join(dir, 'place', f))));
  });

  it('keeps each directive pointing at the file it was written in', () => {
    write({ 'spans/main.lbconf': 'a;\ninclude part.lbconf;\n', 'spans/part.lbconf': '\n\n  b;\n' });
    const [a, b] = loadConfig(join(dir, 'spans/main.lbconf')).directives;
    assert.equal(a.span.file, displayPath(join(dir, 'spans/main.lbconf')));
    assert.equal(b.span.file, displayPath(join(dir, 'spans/part.lbconf')));
    assert.deepEqual([b.span.start.line, b.span.start.column], [3, 3]);
  });

  it('resolves a path relative to the including file, not the working directory', () => {
    write({
      'rel/main.lbconf': 'include sub/one.lbconf;\n',
      'rel/sub/one.lbconf': 'include two.lbconf;\ninclude ../three.lbconf;\n',
      'rel/sub/two.lbconf': 'two;\n',
      'rel/three.lbconf': 'three;\n',
    });
    const loaded = loadConfig(join(dir, 'rel/main.lbconf'));
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['two', 'three']);
  });

  it('accepts an absolute path and a quoted path', () => {
    write({ 'abs/part.lbconf': 'part;\n' });
    const loaded = loadConfigText(`include ${join(dir, 'abs/part.lbconf')};\ninclude "part.lbconf";\n`, join(dir, 'abs/main.lbconf'));
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['part', 'part']);
  });

  it('reads the files a glob matches in sorted order', () => {
    write({
      'glob/conf.d/20-b.lbconf': 'b;\n',
      'glob/conf.d/10-a.lbconf': 'a;\n',
      'glob/conf.d/30-c.lbconf': 'c;\n',
      'glob/conf.d/README': 'not a config',
      'glob/conf.d/B.lbconf': 'upper;\n',
    });
    const loaded = loadConfigText('include conf.d/*.lbconf;\ninclude "conf.d/{30-c,10-a}.lbconf";\ninclude conf.d/[12]0-?.lbconf;\n', join(dir, 'glob/main.lbconf'));
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['a', 'b', 'c', 'upper', 'a', 'c', 'a', 'b']);
  });

  it('accepts a glob that matches nothing', () => {
    const loaded = loadConfigText('include nothing/*.lbconf;\nafter;\n', join(dir, 'main.lbconf'));
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['after']);
  });

  it('reports a missing plain path at the path, and reads on', () => {
    const loaded = loadConfigText('server {\n    include "missing.lbconf";\n    after;\n}\n', join(dir, 'main.lbconf'));
    assert.deepEqual(loaded.diagnostics.map((d) => [d.code, d.span.start.line, d.span.start.column, d.span.end.column]), [['include-not-found', 2, 13, 29]]);
    assert.match(loaded.diagnostics[0].message, /^cannot read included file .*missing\.lbconf \(ENOENT\)$/);
    assert.equal(loaded.diagnostics[0].hint, 'paths are relative to the file that includes them');
    assert.deepEqual(shape(loaded.directives), [['server', ['after']]]);
  });

  it('reports an include of a folder', () => {
    mkdirSync(join(dir, 'afolder'), { recursive: true });
    const loaded = loadConfigText('include afolder;\n', join(dir, 'main.lbconf'));
    assert.deepEqual(loaded.diagnostics.map((d) => d.code), ['include-not-found']);
    assert.match(loaded.diagnostics[0].message, /\(EISDIR\)/);
  });

  it('reports an include with no path, several paths or a block, at the directive', () => {
    const loaded = loadConfigText('include;\ninclude a b;\ninclude a { }\n', join(dir, 'main.lbconf'));
    assert.deepEqual(loaded.diagnostics.map((d) => `${d.code} ${d.span.start.line}:${d.span.start.column}-${d.span.end.line}:${d.span.end.column}`), [
      'bad-include 1:1-1:9', 'bad-include 2:1-2:13', 'bad-include 3:1-3:14',
    ]);
  });

  it('reports a file that includes itself', () => {
    write({ 'self/main.lbconf': 'a;\ninclude main.lbconf;\nb;\n' });
    const loaded = loadConfig(join(dir, 'self/main.lbconf'));
    const shown = displayPath(join(dir, 'self/main.lbconf'));
    assert.deepEqual(loaded.diagnostics.map((d) => [d.code, d.span.file, d.span.start.line, d.span.start.column, d.message]), [
      ['include-cycle', shown, 2, 9, `include cycle: ${shown} → ${shown}`],
    ]);
    assert.deepEqual(shape(loaded.directives), ['a', 'b']);
  });

  it('reports a cycle through several files at the include that closes it, naming the chain', () => {
    write({
      'cycle/main.lbconf': 'include a.lbconf;\n',
      'cycle/a.lbconf': 'in_a;\ninclude sub/b.lbconf;\n',
      'cycle/sub/b.lbconf': 'in_b;\ninclude ../c.lbconf;\n',
      'cycle/c.lbconf': 'in_c;\n  include a.lbconf;\n',
    });
    const loaded = loadConfig(join(dir, 'cycle/main.lbconf'));
    const p = (f: string) => displayPath(join(dir, 'cycle', f));
    assert.deepEqual(loaded.diagnostics.map((d) => [d.code, d.span.file, d.span.start.line, d.span.start.column]), [['include-cycle', p('c.lbconf'), 2, 11]]);
    assert.equal(loaded.diagnostics[0].message, `include cycle: ${p('a.lbconf')} → ${p('sub/b.lbconf')} → ${p('c.lbconf')} → ${p('a.lbconf')}`);
    assert.deepEqual(shape(loaded.directives), ['in_a', 'in_b', 'in_c']);
  });

  it('allows the same file to be included twice when it is not a cycle', () => {
    write({ 'twice/main.lbconf': 'include part.lbconf;\ninclude part.lbconf;\n', 'twice/part.lbconf': 'p;\n' });
    const loaded = loadConfig(join(dir, 'twice/main.lbconf'));
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['p', 'p']);
  });

  it('reports syntax errors of an included file in that file', () => {
    write({ 'syn/main.lbconf': 'include part.lbconf;\n', 'syn/part.lbconf': 'ok;\nbad {\n' });
    const loaded = loadConfig(join(dir, 'syn/main.lbconf'));
    assert.deepEqual(loaded.diagnostics.map((d) => [d.code, d.span.file, d.span.start.line, d.span.start.column]), [['unclosed-block', displayPath(join(dir, 'syn/part.lbconf')), 2, 5]]);
  });

  it('throws UnreadableFileError only for the entry file', () => {
    assert.throws(() => loadConfig(join(dir, 'no-such-entry.lbconf')), (err: unknown) => err instanceof UnreadableFileError && /ENOENT/.test(err.message));
  });

  it('reads through a host supplied by the caller', () => {
    const files: Record<string, string> = { '/v/main.lbconf': 'include parts/*.lbconf;\n', '/v/parts/x.lbconf': 'x;\n', '/v/parts/y.lbconf': 'y;\n' };
    const host: ConfigHost = {
      readFile: (path) => {
        if (!(path in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
        return files[path];
      },
      glob: (pattern) => (pattern === '/v/parts/*.lbconf' ? ['/v/parts/y.lbconf', '/v/parts/x.lbconf'] : []),
    };
    const loaded = loadConfig('/v/main.lbconf', host);
    assert.deepEqual(loaded.diagnostics, []);
    assert.deepEqual(shape(loaded.directives), ['x', 'y']);
  });
});
