import { parseArgs, type ParseArgsConfig } from 'node:util';

// Argument parsing shared by the subcommands: a mistake is a usage error (exit 2), never a stack trace.

export class UsageError extends Error {}

export function parse<T extends ParseArgsConfig['options']>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export function oneOf<T extends string>(value: string | undefined, choices: readonly T[], option: string, fallback: T): T {
  if (value === undefined) return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${option} must be one of ${choices.join(', ')}, not '${value}'`);
}
