import type { Duplex, Readable } from 'node:stream';
import type { ResponseHeaders } from './response-parser.ts';

// The contract between the proxy and lbconf's upstream client. It keeps the
// shape of undici's dispatch handler (onRequestStart … onResponseEnd), which
// the proxy was written against, so either can serve it.

export interface UpstreamRequestOptions {
  method: string;
  /** Origin form: `/path?query`. */
  path: string;
  /** Flat [name, value, …]; names as they should be sent. */
  headers: string[];
  /** Streamed as is when the headers carry a Content-Length, else with chunked coding. */
  body?: Readable | null;
  /** Time allowed for the response head once the request is written; 0 for none. */
  headersTimeout?: number;
  /** Longest pause between two reads of the response body; 0 for none. */
  bodyTimeout?: number;
  /** Longest wait for the server to take more of the request body (proxy_send_timeout); 0 for none. */
  sendTimeout?: number;
  /** Longest the response may wait paused for the client to read (send_timeout); 0 for none; unset, the pool's. */
  clientTimeout?: number;
  /** Ask for a protocol switch (WebSocket): the value of the Upgrade header. */
  upgrade?: string;
  /** TLS SNI name (proxy_ssl_name) for https upstreams. */
  servername?: string;
}

export interface UpstreamController {
  readonly aborted: boolean;
  readonly paused: boolean;
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
}

export interface UpstreamHandler {
  onRequestStart?(controller: UpstreamController, context: unknown): void;
  onRequestUpgrade?(controller: UpstreamController, statusCode: number, headers: ResponseHeaders, socket: Duplex): void;
  /** An interim 1xx response (103 Early Hints, 102 Processing). */
  onResponseInformation?(controller: UpstreamController, statusCode: number, headers: ResponseHeaders): void;
  onResponseStart?(controller: UpstreamController, statusCode: number, headers: ResponseHeaders, statusMessage?: string): void;
  onResponseData?(controller: UpstreamController, chunk: Buffer): void;
  onResponseEnd?(controller: UpstreamController, trailers: ResponseHeaders | null): void;
  onResponseError?(controller: UpstreamController, error: Error): void;
}

/**
 * An error of the upstream client, with a code the proxy classifies (502, 504, retry or not):
 * - timeouts: LBCONF_CONNECT_TIMEOUT (no connection, or none free, in time), LBCONF_HEAD_TIMEOUT,
 *   LBCONF_BODY_TIMEOUT, LBCONF_UPSTREAM_SEND_TIMEOUT (the server took none of the request body),
 *   LBCONF_SEND_TIMEOUT (the client read none of the response), LBCONF_TIMEOUT (fetchOnce);
 * - LBCONF_UPSTREAM_CLOSED: the server closed the connection before the response ended;
 * - LBCONF_POOL_CLOSED, LBCONF_POOL_DESTROYED: the pool was closed first (nothing was sent);
 * - LBCONF_BAD_REQUEST_VALUE: a path or header value HTTP cannot carry (nothing was sent);
 * - LBCONF_BODY_LENGTH: the request body did not match its Content-Length;
 * - LBCONF_INTERNAL: lbconf's own handler threw;
 * - a malformed response: the response parser's HPE_* code (response-parser.ts);
 * - the socket's own codes (ECONNREFUSED, ECONNRESET, ...).
 */
export class UpstreamError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}
