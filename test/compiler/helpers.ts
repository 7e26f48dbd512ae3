import assert from 'node:assert/strict';
import { checkText, type CheckResult } from '../../compiler/check.ts';
import type { ConfigHost } from '../../lang/include.ts';

// Shared by the compiler tests: check a text and describe its diagnostics compactly.

/** A host with no files: tests of single texts never touch the disk. */
export const noFiles: ConfigHost = {
  readFile: () => { throw Object.assign(new Error('no such file'), { code: 'ENOENT' }); },
  glob: () => [],
};

export function check(source: string): CheckResult {
  return checkText(source, 'test.lbconf', noFiles);
}

/** Diagnostics as `line:col-line:col severity code`, in the order checkText gives them. */
export function diags(source: string): string[] {
  return check(source).diagnostics.map((d) => `${d.span.start.line}:${d.span.start.column}-${d.span.end.line}:${d.span.end.column} ${d.severity} ${d.code}`);
}

/** Just the codes. */
export function codes(source: string): string[] {
  return check(source).diagnostics.map((d) => d.code);
}

/** The one diagnostic a text gives (fails otherwise). */
export function only(source: string): { at: string; code: string; severity: string; message: string; hint?: string } {
  const list = check(source).diagnostics;
  assert.equal(list.length, 1, `expected one diagnostic, got ${JSON.stringify(list.map((d) => `${d.code}: ${d.message}`))}`);
  const [d] = list;
  return { at: `${d.span.start.line}:${d.span.start.column}-${d.span.end.line}:${d.span.end.column}`, code: d.code, severity: d.severity, message: d.message, ...(d.hint ? { hint: d.hint } : {}) };
}

/** The IR of a text that must check clean. */
export function clean(source: string): CheckResult['ir'] {
  const result = check(source);
  assert.deepEqual(result.diagnostics.map((d) => `${d.code}: ${d.message}`), []);
  return result.ir;
}

/** Wraps location directives in a minimal server, for checks about one location. */
export function inLocation(body: string): string {
  return `server {\n    location / {\n        ${body}\n    }\n}\n`;
}

/** An upstream `app` with the given body, used by a location so it is not reported unused. */
export function withUpstream(body: string): string {
  return `upstream app {\n${body}\n}\nserver {\n    location / {\n        proxy_pass http://app;\n    }\n}\n`;
}
