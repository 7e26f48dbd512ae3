import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// `lbconf check` as a user runs it: a child process, its exit code, stdout and stderr.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const node = join(root, 'node_modules/.bin/node');
let dir: string;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function lbconf(...args: string[]): Run {
  const r = spawnSync(node, ['cli/main.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', LBCONF_DEBUG: '' } });
  // Whatever happens, a user never sees a stack trace.
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `stack trace on stderr:\n${r.stderr}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const VALID = 'upstream app {\n    server 10.0.0.1:8080;\n}\nserver {\n    listen 80;\n    location / {\n        proxy_pass http://app;\n    }\n}\n';
const ERRORS = 'server {\n    listen 80\n    server_name example.com;\n    location / {\n        proxy_pas http://app;\n    }\n}\n';
const WARNING = 'upstream spare {\n    server 10.0.0.1:8080;\n}\nserver {\n    location / {\n        return 204;\n    }\n}\n';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbconf-cli-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('lbconf check: exit status', () => {
  it('exits 0 and says ok for a clean file', () => {
    const path = file('valid.lbconf', VALID);
    const r = lbconf('check', path);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${path}: ok\n`);
    assert.equal(r.stderr, '');
  });

  it('exits 0 for the valid conformance corpus, given as several files', () => {
    const r = lbconf('check', 'spec/tests/valid/reverse-proxy.lbconf', 'spec/tests/valid/includes.lbconf');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'spec/tests/valid/reverse-proxy.lbconf, spec/tests/valid/includes.lbconf: ok\n');
  });

  it('checks the .lbconf files of a folder; says so when it has none (it failed with EISDIR)', () => {
    const r = lbconf('check', 'spec/tests/valid');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /spec\/tests\/valid\/reverse-proxy\.lbconf/);
    const empty = mkdtempSync(join(dir, 'none-'));
    const none = lbconf('check', empty);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /is a folder with no \.lbconf file in it/);
    assert.doesNotMatch(none.stderr, /EISDIR/);
  });

  it('exits 1 when there is an error', () => {
    assert.equal(lbconf('check', file('errors.lbconf', ERRORS)).status, 1);
  });

  it('exits 0 on warnings alone, and 1 with --deny-warnings', () => {
    const path = file('warning.lbconf', WARNING);
    const r = lbconf('check', path);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /warning unused-upstream/);
    assert.match(r.stdout, /0 errors, 1 warning\n$/);
    assert.equal(lbconf('check', '--deny-warnings', path).status, 1);
    assert.equal(lbconf('check', path, '--deny-warnings').status, 1);
    assert.equal(lbconf('check', '--deny-warnings', file('clean2.lbconf', VALID)).status, 0);
  });

  it('exits 1 when any of several files has an error', () => {
    assert.equal(lbconf('check', file('ok3.lbconf', VALID), file('bad3.lbconf', ERRORS)).status, 1);
  });
});

describe('lbconf check: text output', () => {
  it('prints file:line:col, the code and message, the source line, a caret under the span, and the hint', () => {
    const path = file('caret.lbconf', ERRORS);
    const r = lbconf('check', path);
    assert.equal(r.stdout, [
      `${path}:2:14: error missing-semicolon: missing \`;\` after \`listen 80\``,
      '2 |     listen 80',
      '  |              ^',
      '  = hint: end the directive with `;`',
      '',
      `${path}:5:9: error unknown-directive: unknown directive \`proxy_pas\``,
      '5 |         proxy_pas http://app;',
      '  |         ^^^^^^^^^',
      '  = hint: did you mean `proxy_pass`?',
      '',
      '2 errors, 0 warnings',
      '',
    ].join('\n'));
    assert.equal(r.stderr, '');
  });

  it('lines the caret up under tabs and widens the gutter for long line numbers', () => {
    const path = file('tabs.lbconf', `${'\n'.repeat(9)}server {\n\tlisten\t80 81;\n\tlocation / { return 204; }\n}\n`);
    const r = lbconf('check', path);
    assert.equal(r.status, 1);
    assert.ok(r.stdout.includes('11 | \tlisten\t80 81;\n   | \t      \t   ^^\n'), r.stdout);
  });

  it('prints no colour when stdout is not a terminal', () => {
    assert.doesNotMatch(lbconf('check', file('nocolor.lbconf', ERRORS)).stdout, /\x1b\[/);
  });

  it('names included files in their own diagnostics', () => {
    file('part.lbconf', 'location / {\n    return 204\n}\n');
    const path = file('with-include.lbconf', 'server {\n    include part.lbconf;\n}\n');
    const r = lbconf('check', path);
    assert.equal(r.status, 1);
    assert.ok(r.stdout.startsWith(`${join(dir, 'part.lbconf')}:2:15: error missing-semicolon`), r.stdout);
  });
});

describe('lbconf check --format json', () => {
  it('prints one JSON document with every diagnostic and the counts', () => {
    const path = file('json.lbconf', ERRORS);
    const r = lbconf('check', '--format', 'json', path);
    assert.equal(r.status, 1);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc, {
      files: [path],
      diagnostics: [
        { file: path, severity: 'error', code: 'missing-semicolon', message: 'missing `;` after `listen 80`', hint: 'end the directive with `;`', start: { line: 2, column: 14 }, end: { line: 2, column: 14 } },
        { file: path, severity: 'error', code: 'unknown-directive', message: 'unknown directive `proxy_pas`', hint: 'did you mean `proxy_pass`?', start: { line: 5, column: 9 }, end: { line: 5, column: 18 } },
      ],
      errors: 2,
      warnings: 0,
    });
  });

  it('prints an empty list for a clean file', () => {
    const r = lbconf('check', '--format=json', file('json-ok.lbconf', VALID));
    assert.equal(r.status, 0);
    assert.deepEqual(JSON.parse(r.stdout).diagnostics, []);
  });
});

describe('lbconf check --format github', () => {
  it('prints one workflow annotation per diagnostic, escaping what must be', () => {
    const path = file('gh.lbconf', 'server {\n    listen 80 81;\n    location / { return 204; }\n}\nupstream spare { server 10.0.0.1; }\n');
    const r = lbconf('check', '--format', 'github', path);
    assert.equal(r.status, 1);
    const esc = path.replace(/:/g, '%3A').replace(/,/g, '%2C');
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      `::error file=${esc},line=2,col=15,endLine=2,endColumn=17,title=lbconf too-many-arguments::\`listen\` does not take \`81\` here (write \`listen ADDRESS [default_server] [ssl];\`)`,
      `::warning file=${esc},line=5,col=10,endLine=5,endColumn=15,title=lbconf unused-upstream::upstream \`spare\` is never used by a \`proxy_pass\` (remove it, or add \`proxy_pass http://spare;\` to a location)`,
    ]);
  });

  it('prints nothing for a clean file', () => {
    const r = lbconf('check', '--format', 'github', file('gh-ok.lbconf', VALID));
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '');
  });
});

describe('lbconf check: usage', () => {
  it('prints its help with --help and -h, and exits 0', () => {
    for (const flag of ['--help', '-h']) {
      const r = lbconf('check', flag);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: lbconf check \[options\] FILE\.\.\./);
      assert.match(r.stdout, /--format text\|json\|github/);
      assert.match(r.stdout, /--deny-warnings/);
    }
  });

  it('exits 2 on an unknown option, saying which and where to find help', () => {
    const r = lbconf('check', '--frobnicate', 'x.lbconf');
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^lbconf: Unknown option '--frobnicate'\nRun 'lbconf check --help' for usage\.\n$/);
  });

  it('exits 2 on an unknown --format', () => {
    const r = lbconf('check', '--format', 'xml', 'x.lbconf');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--format must be one of text, json, github, not 'xml'/);
  });

  it('exits 2 with no file', () => {
    const r = lbconf('check');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /needs at least one FILE/);
  });

  it('exits 2 for a file that does not exist, a folder with no .lbconf file, or an unreadable file', () => {
    const missing = lbconf('check', join(dir, 'nope.lbconf'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^lbconf: cannot read .*nope\.lbconf: ENOENT\n$/);
    const folder = lbconf('check', mkdtempSync(join(dir, 'empty-')));
    assert.equal(folder.status, 2);
    assert.match(folder.stderr, /is a folder with no \.lbconf file in it/);
    if (process.getuid?.() !== 0) {
      const locked = file('locked.lbconf', VALID);
      chmodSync(locked, 0o000);
      const r = lbconf('check', locked);
      assert.equal(r.status, 2);
      assert.match(r.stderr, /EACCES/);
    }
  });

  it('exits 2 on an unknown command, and with no command at all', () => {
    const r = lbconf('frobnicate');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
    assert.equal(lbconf().status, 2);
  });

  it('prints the top-level help with --help', () => {
    const r = lbconf('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /check FILE\.\.\./);
  });

  it('reports a file full of garbage as diagnostics, not a crash', () => {
    const r = lbconf('check', file('garbage.lbconf', '}}} {{ ;; "\u00a0 \'\n\u0000\u0001 $ ${ \\'));
    assert.equal(r.status, 1);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /errors?, \d+ warnings?\n$/);
  });
});
