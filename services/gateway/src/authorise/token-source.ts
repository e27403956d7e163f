/**
 * Where the access token comes from (spec §5.1), the same for SSE and WebSocket:
 *   1. `Authorization` header, with a leading `Bearer ` (exact, case-sensitive) removed;
 *   2. else the `access_token` query parameter;
 *   3. else the raw `Sec-WebSocket-Protocol` header (all of it: `tok, other` fails later);
 *   4. else "Missing access token".
 * Empty values count as absent, as in Mastodon (`||`).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Errors, StreamingError } from '@sluice/shared';

export type Query = Readonly<Record<string, string | string[] | undefined>>;

/** A token that cannot match any row (a repeated `access_token` becomes an array). */
export const UNMATCHABLE = '';

export function extractToken(headers: IncomingHttpHeaders, query: Query): string {
  const authorization = headers.authorization;
  if (authorization) return authorization.startsWith('Bearer ') ? authorization.slice(7) : authorization;
  const fromQuery = query['access_token'];
  if (fromQuery !== undefined && fromQuery !== '' && !(Array.isArray(fromQuery) && fromQuery.length === 0)) {
    // node-pg would send an array as a Postgres array literal, which equals no token.
    return typeof fromQuery === 'string' ? fromQuery : UNMATCHABLE;
  }
  const protocol = headers['sec-websocket-protocol'];
  if (protocol) return protocol;
  throw new StreamingError(Errors.MissingToken);
}
