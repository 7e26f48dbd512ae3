import { globSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { ConfigFile, Directive } from './ast.ts';
import type { Diagnostic } from './diagnostic.ts';
import { parseConfig } from './parse.ts';
import { UnreadableFileError } from './unreadable.ts';

export { UnreadableFileError };

// `include PATH;` is syntax, as in nginx: the directives of the named files take
// its place, in any block. PATH may hold glob patterns, resolved relative to the
// including file; matches are read in sorted order.

/** What the loader needs from the outside world; tests and editors can supply their own. */
export interface ConfigHost {
  readFile(path: string): string;
  glob(pattern: string): string[];
}

export const nodeHost: ConfigHost = {
  readFile: (path) => readFileSync(path, 'utf8'),
  glob: (pattern) => globSync(pattern).map((p) => resolve(p)),
};

export interface LoadedConfig {
  /** Every file read, the entry first; the reload watcher watches these. */
  files: ConfigFile[];
  /** The entry file's directives with every include expanded in place. */
  directives: Directive[];
  diagnostics: Diagnostic[];
}

const GLOB_CHARS = /[*?[\]{}]/;

/** Path shown to users: relative to the working directory when that is shorter. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Reads and parses `entry` and everything it includes. Throws UnreadableFileError only for the entry itself. */
export function loadConfig(entry: string, host: ConfigHost = nodeHost): LoadedConfig {
  const path = resolve(entry);
  let source: string;
  try {
    source = host.readFile(path);
  } catch (err) {
    throw new UnreadableFileError(displayPath(path), err);
  }
  return loadConfigText(source, path, host);
}

/** Like loadConfig, for text already in memory (an editor buffer, a test). */
export function loadConfigText(source: string, path: string, host: ConfigHost = nodeHost): LoadedConfig {
  const loaded: LoadedConfig = { files: [], directives: [], diagnostics: [] };
  loaded.directives = loadFile(source, path, [], host, loaded);
  return loaded;
}

function loadFile(source: string, path: string, chain: string[], host: ConfigHost, out: LoadedConfig): Directive[] {
  const shown = displayPath(path);
  const { config, diagnostics } = parseConfig(source, shown);
  out.files.push(config);
  out.diagnostics.push(...diagnostics);
  return expand(config.directives, path, [...chain, path], host, out);
}

function expand(directives: Directive[], path: string, chain: string[], host: ConfigHost, out: LoadedConfig): Directive[] {
  const result: Directive[] = [];
  for (const d of directives) {
    if (d.name !== 'include') {
      result.push(d.block ? { ...d, block: expand(d.block, path, chain, host, out) } : d);
      continue;
    }
    if (d.args.length !== 1 || d.block) {
      out.diagnostics.push({ severity: 'error', code: 'bad-include', message: '`include` takes exactly one path and no block', span: d.span, hint: 'write `include conf.d/*.lbconf;`' });
      continue;
    }
    const pattern = resolve(dirname(path), d.args[0].value);
    const matches = GLOB_CHARS.test(d.args[0].value) ? host.glob(pattern).sort() : [pattern];
    for (const file of matches) {
      const at = chain.indexOf(file);
      if (at >= 0) {
        const cycle = [...chain.slice(at), file].map(displayPath).join(' → ');
        out.diagnostics.push({ severity: 'error', code: 'include-cycle', message: `include cycle: ${cycle}`, span: d.args[0].span, hint: 'remove one of the includes in this chain' });
        continue;
      }
      let source: string;
      try {
        source = host.readFile(file);
      } catch (err) {
        const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
        out.diagnostics.push({ severity: 'error', code: 'include-not-found', message: `cannot read included file ${displayPath(file)} (${reason})`, span: d.args[0].span, hint: 'paths are relative to the file that includes them' });
        continue;
      }
      result.push(...loadFile(source, file, chain, host, out));
    }
  }
  return result;
}
