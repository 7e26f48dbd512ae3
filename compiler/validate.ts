import { Ajv, type ErrorObject } from 'ajv';
import type { Span } from '../lang/ast.ts';
import type { Diagnostic } from '../lang/diagnostic.ts';
import type { ConfigIR } from './ir.ts';
import type { SourceRef } from './lower.ts';
import { irSchema } from './schema.ts';

// Validates the IR with its JSON Schema and maps each ajv error back to the
// directive or argument that produced the value, through the pointer → span map.

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
const validateIR = ajv.compile(irSchema);

function describe(e: ErrorObject, label: string): string {
  const got = e.data === undefined ? '' : ` (got ${JSON.stringify(e.data)})`;
  switch (e.keyword) {
    case 'minimum': return `${label} must be at least ${e.params.limit}${got}`;
    case 'maximum': return `${label} must be at most ${e.params.limit}${got}`;
    case 'exclusiveMinimum': return `${label} must be more than ${e.params.limit}${got}`;
    case 'minLength': return `${label} must be at least ${e.params.limit} characters long`;
    case 'maxLength': return `${label} must be at most ${e.params.limit} characters long`;
    case 'minItems': return e.instancePath.endsWith('/servers') ? `${label} has no servers` : `${label} needs at least ${e.params.limit} item(s)`;
    case 'pattern': return e.params.pattern === '^/' ? `${label} must start with \`/\`` : `${label} must match ${e.params.pattern}`;
    default: return `${label} ${e.message ?? 'is not valid'}`;
  }
}

function locate(pointer: string, locs: Map<string, SourceRef>, fallback: Span): SourceRef {
  for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
    const ref = locs.get(p);
    if (ref) return ref;
    if (p === '') return { span: fallback, label: 'the configuration' };
  }
}

/** An empty value (no servers, an empty name) where an error already said why: the missing part was not read. */
function alreadyReported(e: ErrorObject, tainted: ReadonlySet<string>): boolean {
  const empty = (e.keyword === 'minItems' && Array.isArray(e.data) && e.data.length === 0) || (e.keyword === 'minLength' && e.data === '');
  return empty && tainted.has(e.instancePath.slice(0, e.instancePath.lastIndexOf('/')));
}

export function validateSchema(ir: ConfigIR, locs: Map<string, SourceRef>, fallback: Span, tainted: ReadonlySet<string> = new Set()): Diagnostic[] {
  if (validateIR(ir)) return [];
  const out: Diagnostic[] = [];
  for (const e of validateIR.errors ?? []) {
    // anyOf reports each branch; the branch errors beneath say more.
    if (e.keyword === 'anyOf' || e.keyword === 'type' && e.schemaPath.includes('anyOf')) continue;
    if (alreadyReported(e, tainted)) continue;
    const ref = locate(e.instancePath, locs, fallback);
    // An inherited value errs at every level that inherits it; compiler/check.ts keeps one per source position.
    const d: Diagnostic = { severity: 'error', code: 'invalid-value', message: describe(e, ref.label), span: ref.span };
    if (e.instancePath.endsWith('/servers')) d.hint = 'add `server host:port;` inside the upstream';
    out.push(d);
  }
  return out;
}
