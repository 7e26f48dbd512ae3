// A config file that cannot be read at all (missing, unreadable): the CLI says
// so in one line and exits 2. Its own module, so the CLI can recognize it
// without loading the parser.

export class UnreadableFileError extends Error {
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(`cannot read ${path}: ${cause instanceof Error && 'code' in cause ? String(cause.code) : String(cause)}`);
    this.path = path;
  }
}
