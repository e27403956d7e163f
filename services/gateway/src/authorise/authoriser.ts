/**
 * The `authorise` stage as the routes see it: who is this (token → account), may they read this
 * stream (scopes), and which channels is it (resolution). Short spans around the first, since a
 * streaming request's own span would last as long as the stream.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { context, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { StreamingError } from '@sluice/shared';
import type { AuthContext, ResolvedStream, StreamParams, TransportType } from '../model.js';
import { checkScopes } from './scopes.js';
import type { StreamResolver } from './streams.js';
import type { TokenLookup } from './token-lookup.js';
import { extractToken, type Query } from './token-source.js';

export class Authoriser {
  constructor(
    private readonly tokens: TokenLookup,
    private readonly streams: StreamResolver,
    private readonly tracer: Tracer,
  ) {}

  /** A short span from request to stream start, ended by the caller with {@link endSpan}. */
  connectSpan(transport: TransportType): Span {
    return this.tracer.startSpan('gateway.connect', {
      kind: SpanKind.SERVER,
      attributes: { 'sluice.transport': transport },
    });
  }

  /** Throws {@link StreamingError}: 401 missing/invalid token, 500 unexpected. */
  async authenticate(
    headers: IncomingHttpHeaders,
    query: Query,
    transport: TransportType,
    parent?: Span,
  ): Promise<AuthContext> {
    const span = this.tracer.startSpan(
      'gateway.authenticate',
      { attributes: { 'sluice.transport': transport } },
      parent ? trace.setSpan(context.active(), parent) : undefined,
    );
    try {
      const auth = await this.tokens.lookup(extractToken(headers, query));
      span.setAttribute('enduser.id', auth.accountId);
      return auth;
    } catch (err) {
      const status = err instanceof StreamingError ? err.status : 500;
      span.setAttribute('http.response.status_code', status);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      throw err;
    } finally {
      span.end();
    }
  }

  checkScopes(auth: AuthContext, streamName: string): void {
    checkScopes(auth, streamName);
  }

  resolve(auth: AuthContext, name: string, params: StreamParams): Promise<ResolvedStream> {
    return this.streams.resolve(auth, name, params);
  }
}

/** Ends a connect span with the outcome: an HTTP status, or the error a client was shown. */
export function endSpan(span: Span, status: number, err?: unknown): void {
  span.setAttribute('http.response.status_code', status);
  if (err !== undefined || status >= 400) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: err instanceof Error ? err.message : String(status),
    });
  }
  span.end();
}
