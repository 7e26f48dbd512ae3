// Writes the parts of spec/ that come from the code: the directive reference
// (from the directive table) and the IR's JSON Schema. `npm test` fails when
// they are stale; `npm run gen-spec` refreshes them.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { syntaxOf, type Context, type DirectiveSpec } from '../compiler/directive.ts';
import { irSchema } from '../compiler/schema.ts';
import { DIRECTIVES } from '../compiler/table.ts';

const CONTEXTS: Record<Context, string> = { main: 'top level', server: 'server', location: 'location', upstream: 'upstream' };

function section(spec: DirectiveSpec): string {
  const lines = [`### \`${spec.name}\`${spec.contexts.includes('upstream') && spec.name === 'server' ? ' (in upstream)' : ''}`, ''];
  lines.push('```', syntaxOf(spec), '```', '');
  lines.push(`- **Context:** ${spec.contexts.map((c) => CONTEXTS[c]).join(', ')}`);
  lines.push(`- **Repeatable:** ${spec.repeatable ? 'yes' : 'no'}`);
  if (spec.default) lines.push(`- **Default:** \`${spec.default}\``);
  lines.push('', spec.summary, '');
  const params = [
    ...spec.args.positional.map((p) => `| \`${p.name.toUpperCase()}\` | ${p.type.name}${p.variadic ? ', one or more' : ''}${p.optional ? ', optional' : ''} | |`),
    ...Object.entries(spec.args.options ?? {}).map(([k, o]) => `| \`${k}=\` | ${o.type.name} | ${o.doc} |`),
    ...Object.entries(spec.args.flags ?? {}).map(([k, doc]) => `| \`${k}\` | flag | ${doc} |`),
  ];
  if (params.length) lines.push('| argument | type | meaning |', '| --- | --- | --- |', ...params, '');
  lines.push('Example:', '', '```nginx', spec.example, '```', '');
  return lines.join('\n');
}

export function directiveReference(): string {
  return [
    '# Directive reference',
    '',
    'Generated from the directive table (`compiler/directives/`) by `npm run gen-spec`; do not edit by hand.',
    'Syntax and value types are described in [language.md](language.md); diagnostics in [diagnostics.md](diagnostics.md).',
    '',
    'Types: `duration` is `500ms`, `30s`, `1m30s`, `1h` (a bare number is seconds); `size` is `512`, `16k`, `10m`, `1g`;',
    '`text` may contain variables such as `$remote_addr`; `address` is an IP address, CIDR range or `host:port` as the directive says.',
    '',
    '## Contents',
    '',
    ...DIRECTIVES.map((d) => `- [\`${d.name}\`](#${d.name}${d.name === 'server' && d.contexts.includes('upstream') ? '-in-upstream' : ''}) — ${CONTEXTS[d.contexts[0]]}${d.contexts.length > 1 ? ', …' : ''}`),
    '',
    ...DIRECTIVES.map(section),
  ].join('\n');
}

export function schemaJson(): string {
  return JSON.stringify(irSchema, null, 2) + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(new URL('../spec/directives.md', import.meta.url), directiveReference());
  writeFileSync(new URL('../spec/lbconf-ir.schema.json', import.meta.url), schemaJson());
  process.stdout.write('wrote spec/directives.md and spec/lbconf-ir.schema.json\n');
}
