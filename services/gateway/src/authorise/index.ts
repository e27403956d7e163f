/** Stage `authorise`: coalesced token look-up, scopes, stream name → channels. */
export { Authoriser, endSpan } from './authoriser.js';
export { canReadNotifications, checkScopes, requiredScopes } from './scopes.js';
export type { AuthStore, SettingRow, TokenRow } from './store.js';
export { MemoryAuthStore, type MemoryToken } from './store-memory.js';
export { PgAuthStore } from './store-pg.js';
export { PERMISSION_VIEW_FEEDS, StreamResolver, type StreamResolverOptions } from './streams.js';
export { TokenLookup, type TokenLookupOptions, toAuthContext } from './token-lookup.js';
export { extractToken, type Query } from './token-source.js';
