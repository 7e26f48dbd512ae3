import { createRequire } from 'node:module';

// A package loaded on first use, synchronously (Node's require, which loads ES
// modules too): the file watcher and the JSON logger cost a serving process
// memory only when the config asks for them.

const load = createRequire(import.meta.url);

export function lazy<T>(name: string): () => T {
  let module: T | undefined;
  return () => (module ??= load(name) as T);
}
