/**
 * The few types every stage shares. Kept here (types only, no code) so that `authorise/`,
 * `subscribe/`, `filter/`, `encode/` and `write/` can name them without importing each other.
 */
import type { Connection } from './write/connection.js';

/** Who a connection is, from the token lookup (spec §5.2). */
export interface AuthContext {
  /** `oauth_access_tokens.id` (decimal string): the `timeline:access_token:<id>` channel. */
  readonly accessTokenId: string;
  /** `users.account_id` (decimal string, never a Number: snowflakes exceed 2^53). */
  readonly accountId: string;
  readonly scopes: readonly string[];
  /** `users.chosen_languages`; null = every language. */
  readonly chosenLanguages: readonly string[] | null;
  /** `COALESCE(user_roles.permissions, 0)`. */
  readonly permissions: bigint;
}

/** Per-subscription delivery options (Mastodon's `options` of `channelNameToIds`). */
export interface StreamOptions {
  /** Public and hashtag streams: status events go through the per-event filter (spec §8). */
  readonly needsFiltering: boolean;
  /** Feed-access settings (§5.6): drop local / remote statuses. */
  readonly filterLocal: boolean;
  readonly filterRemote: boolean;
  /** glitch-soc: `local_only` statuses may be delivered (§15). */
  readonly allowLocalOnly: boolean;
}

/** A stream name and params resolved to Redis channels (spec §3.2, §6). */
export interface ResolvedStream {
  /** Stream name as the metrics label (`public:local`, `hashtag`, …). */
  readonly name: string;
  readonly channels: readonly string[];
  readonly options: StreamOptions;
  /** JSON of the WebSocket `stream` label, exactly as the client sent it (`["hashtag","#Foo"]`). */
  readonly labelJson: string;
}

/** One stream of one connection; the hub maps each of its channels to it. */
export interface Subscription extends ResolvedStream {
  readonly conn: Connection;
  /** `channels.join(';')`: two subscriptions with the same key are the same (spec §4.3). */
  readonly key: string;
  /** The per-connection `timeline:access_token:*` / `timeline:system:*` listeners. */
  readonly system: boolean;
}

export type TransportType = 'websocket' | 'eventsource';

/** Stream params: every message key other than `type`/`stream`, or every query parameter. */
export type StreamParams = Readonly<Record<string, unknown>>;
