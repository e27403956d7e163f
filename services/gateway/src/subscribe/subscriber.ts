/**
 * A connection's subscriptions: the two system listeners it gets on authentication (spec §5.7),
 * and the streams it asks for (scope check → resolution → dedupe → hub), Mastodon's
 * `subscribeWebsocketToChannel` / `removeSubscription` without its subscribe-after-close leak:
 * a subscription that resolves after its connection closed registers nothing.
 */
import type { Logger } from '@sluice/shared';
import type { Authoriser } from '../authorise/index.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ResolvedStream, StreamParams, Subscription } from '../model.js';
import type { Connection } from '../write/index.js';
import type { Hub } from './hub.js';

export interface SubscriberOptions {
  hub: Hub;
  authoriser: Authoriser;
  metrics: GatewayMetrics;
  logger: Logger;
}

const SYSTEM_OPTIONS = {
  needsFiltering: false,
  filterLocal: false,
  filterRemote: false,
  allowLocalOnly: false,
} as const;

export class Subscriber {
  constructor(private readonly opts: SubscriberOptions) {}

  /**
   * `timeline:access_token:<id>` and `timeline:system:<account>` (one subscription, two channels):
   * `kill` reaches every pod holding a connection of that token or account.
   */
  openSystem(conn: Connection): void {
    if (conn.closed || conn.system !== null) return;
    const { accessTokenId, accountId } = conn.auth;
    const channels = [`timeline:access_token:${accessTokenId}`, `timeline:system:${accountId}`];
    conn.system = {
      name: 'system',
      channels,
      options: SYSTEM_OPTIONS,
      labelJson: '["system"]',
      conn,
      key: '',
      system: true,
    };
    this.opts.hub.add(conn.system);
    this.opts.metrics.connectedChannels.labels(conn.type, 'system').inc(channels.length);
  }

  /**
   * Scope check first (even for unknown names), then resolution. Returns the new subscription,
   * or null when the same channel set is already subscribed or the connection closed meanwhile.
   * Throws {@link StreamingError} for the client to see.
   */
  async subscribe(conn: Connection, name: string, params: StreamParams): Promise<Subscription | null> {
    this.opts.authoriser.checkScopes(conn.auth, name);
    const resolved = await this.opts.authoriser.resolve(conn.auth, name, params);
    return this.attach(conn, resolved);
  }

  attach(conn: Connection, resolved: ResolvedStream): Subscription | null {
    if (conn.closed) return null;
    const key = subscriptionKey(resolved.channels);
    if (conn.subscriptions.has(key)) return null;
    const sub: Subscription = {
      name: resolved.name,
      channels: resolved.channels,
      options: resolved.options,
      labelJson: resolved.labelJson,
      conn,
      key,
      system: false,
    };
    conn.subscriptions.set(key, sub);
    this.opts.hub.add(sub);
    this.opts.metrics.connectedChannels.labels(conn.type, sub.name).inc();
    this.opts.logger.info(
      { requestId: conn.requestId, accountId: conn.auth.accountId, channelIds: sub.channels },
      'Starting stream',
    );
    return sub;
  }

  /** Resolves again (no scope check, spec §4.3); an unknown subscription is ignored. */
  async unsubscribe(conn: Connection, name: string, params: StreamParams): Promise<void> {
    const resolved = await this.opts.authoriser.resolve(conn.auth, name, params);
    const sub = conn.subscriptions.get(subscriptionKey(resolved.channels));
    if (sub) this.detach(sub);
  }

  detach(sub: Subscription): void {
    const conn = sub.conn;
    if (conn.subscriptions.get(sub.key) !== sub) return;
    conn.subscriptions.delete(sub.key);
    this.opts.hub.remove(sub);
    this.opts.metrics.connectedChannels.labels(conn.type, sub.name).dec();
    this.opts.logger.info(
      { requestId: conn.requestId, accountId: conn.auth.accountId, channelIds: sub.channels },
      'Ending stream',
    );
  }

  /** Everything a closed connection held. */
  release(conn: Connection): void {
    for (const sub of conn.subscriptions.values()) this.detach(sub);
    if (conn.system !== null) {
      this.opts.hub.remove(conn.system);
      this.opts.metrics.connectedChannels.labels(conn.type, 'system').dec(conn.system.channels.length);
      conn.system = null;
    }
  }
}

/** Mastodon's key, `channelIds.join(';')`; a single channel is its own key (no new string). */
function subscriptionKey(channels: readonly string[]): string {
  return channels.length === 1 ? channels[0]! : channels.join(';');
}
