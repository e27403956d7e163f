/**
 * Request parsing and the route table (spec §3.1, §3.2). The nine SSE paths match exactly
 * (case-sensitive, no trailing slash); Express's own routes (health, metrics, favicon) match as
 * Express does: case-insensitively, with an optional trailing slash.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import { isTruthy } from '@sluice/shared';
import type { Query } from '../authorise/index.js';

export interface RequestContext {
  readonly requestId: string;
  /** Path without the query string, as sent (not decoded). */
  readonly path: string;
  /** Express 5's simple query parser (node `querystring`): repeated keys become arrays. */
  readonly query: Query;
  readonly startedAt: number;
}

export function requestContext(req: IncomingMessage): RequestContext {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return {
    requestId: randomUUID(),
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? {} : parseQueryString(url.slice(q + 1)),
    startedAt: performance.now(),
  };
}

export function parseQuery(url: string | undefined): Query {
  const q = url?.indexOf('?') ?? -1;
  return q < 0 ? {} : parseQueryString(url!.slice(q + 1));
}

/** Mastodon's `channelNameFromPath`; `only_media` picks the media variants. */
export function channelNameFromPath(path: string, query: Query): string | undefined {
  const media = () => isTruthy(query['only_media']);
  switch (path) {
    case '/api/v1/streaming/user':
      return 'user';
    case '/api/v1/streaming/user/notification':
      return 'user:notification';
    case '/api/v1/streaming/public':
      return media() ? 'public:media' : 'public';
    case '/api/v1/streaming/public/local':
      return media() ? 'public:local:media' : 'public:local';
    case '/api/v1/streaming/public/remote':
      return media() ? 'public:remote:media' : 'public:remote';
    case '/api/v1/streaming/hashtag':
      return 'hashtag';
    case '/api/v1/streaming/hashtag/local':
      return 'hashtag:local';
    case '/api/v1/streaming/direct':
      return 'direct';
    case '/api/v1/streaming/list':
      return 'list';
    default:
      return undefined;
  }
}

export type FixedRoute = 'favicon' | 'health' | 'metrics' | 'livez' | 'readyz';

/** GET/HEAD routes outside the streaming API. */
export function fixedRoute(path: string): FixedRoute | undefined {
  if (path === '/livez') return 'livez';
  if (path === '/readyz') return 'readyz';
  const p = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase();
  if (p === '/api/v1/streaming/health') return 'health';
  if (p === '/metrics') return 'metrics';
  if (p === '/favicon.ico') return 'favicon';
  return undefined;
}

/** `firstParam`: the first element of an array, else the value. */
export function firstParam(v: unknown): unknown {
  return Array.isArray(v) ? v[0] : v;
}
