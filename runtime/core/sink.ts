// Where an Exchange (runtime/http/proxy.ts) writes the response it relays: the
// client's ServerResponse, or anything else with the same few members — the
// cache's fetch (runtime/filters/cache/fetch.ts), which stores the response while it
// passes it on, or keeps it with no client at all (a background revalidation).
// sendError (runtime/core/errors.ts) writes to a sink too.

export type SinkEvent = 'close' | 'drain';

export interface ResponseSink {
  /** The request answered: sendError reads its method (HEAD has no body) and version (HTTP/2 has no Connection header). */
  readonly req: { readonly method?: string; readonly httpVersionMajor: number };
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, reason: string | undefined, headers: string[]): unknown;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  /** 103 Early Hints, passed on before the final response. */
  writeEarlyHints(hints: Record<string, string | string[]>): void;
  /** 102 Processing, passed on before the final response (HTTP/1 only: Node's HTTP/2 response has none). */
  writeProcessing?(): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): unknown;
  on(event: SinkEvent, listener: () => void): unknown;
  once(event: SinkEvent, listener: () => void): unknown;
  off(event: SinkEvent, listener: () => void): unknown;
  destroy(): unknown;
  /** The sink counts the bytes it sends the client itself (the cache's fetch, which may compress them): the Exchange does not. */
  readonly countsSent?: boolean;
}
