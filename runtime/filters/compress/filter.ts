import type { Transform } from 'node:stream';
import type { ProxySettingsIR } from '../../../compiler/ir.ts';
import type { RequestContext } from '../../core/context.ts';
import type { ResponseFilter } from '../../core/response-filter.ts';
import { compressionFor, notModifiedValidators, startCompression, type CompressionRuntime } from './compress.ts';

/** Compression as a response filter (core/response-filter.ts): what the proxy and the cache call on the way out. */
export class CompressionFilter implements ResponseFilter {
  readonly settings: CompressionRuntime;

  constructor(settings: CompressionRuntime) {
    this.settings = settings;
  }

  wrap(ctx: RequestContext, status: number, headers: string[], conditional: boolean): Transform | null {
    const h = ctx.req.headers;
    return startCompression(this.settings, h['accept-encoding'], h.via !== undefined, status, ctx.req.method ?? 'GET', headers, h.authorization !== undefined, conditional ? h['if-none-match'] : undefined);
  }

  notModified(ctx: RequestContext, headers: string[]): void {
    notModifiedValidators(this.settings, ctx.req.headers['if-none-match'], headers);
  }
}

/** A route's compression, or null when it is off there. */
export function compressionFilter(s: ProxySettingsIR): CompressionFilter | null {
  const settings = compressionFor(s);
  return settings === null ? null : new CompressionFilter(settings);
}
