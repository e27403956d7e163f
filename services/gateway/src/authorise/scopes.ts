/**
 * OAuth scopes per stream (spec §5.3): `user:notification` needs `read` or `read:notifications`;
 * every other name (unknown ones included: the scope check comes first) `read` or `read:statuses`.
 */
import { Errors, StreamingError } from '@sluice/shared';
import type { AuthContext } from '../model.js';

const NOTIFICATIONS = ['read', 'read:notifications'] as const;
const STATUSES = ['read', 'read:statuses'] as const;

export function requiredScopes(streamName: string): readonly string[] {
  return streamName === 'user:notification' ? NOTIFICATIONS : STATUSES;
}

export function hasAnyScope(auth: AuthContext, scopes: readonly string[]): boolean {
  return auth.scopes.some((s) => scopes.includes(s));
}

/** Throws 401 `Access token does not have the required scopes`. */
export function checkScopes(auth: AuthContext, streamName: string): void {
  if (!hasAnyScope(auth, requiredScopes(streamName))) throw new StreamingError(Errors.MissingScope);
}

/** The `user` stream includes notifications only with one of these (spec §5.3). */
export function canReadNotifications(auth: AuthContext): boolean {
  return hasAnyScope(auth, NOTIFICATIONS);
}
