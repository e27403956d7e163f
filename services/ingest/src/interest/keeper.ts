/**
 * Interest keeper (DESIGN decision 9): turns gateways' interest messages into the
 * `subscribed:<channel>` keys Rails checks before publishing personal timelines (spec §7.3).
 *
 * `add` sets the key at once (like Mastodon on every new subscription); while any gateway keeps
 * announcing a channel, the key is re-set every refresh period; once no gateway has announced
 * it for `expiryMs`, we stop and the key expires on its own, as Mastodon's keys do.
 * Every ingest replica does this independently: SET is idempotent, so no coordination needed.
 */
import type { InterestConfig, InterestMessage, Logger } from '@sluice/shared';
import type { IngestMetrics } from '../metrics.js';
import type { KeyStore } from './key-store.js';

interface Entry {
  lastSeen: number;
  lastSet: number;
}

export class InterestKeeper {
  private readonly channels = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;
  private readonly keyPrefix: string;

  constructor(
    private readonly store: KeyStore,
    private readonly cfg: InterestConfig,
    namespace: string | undefined,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.keyPrefix = namespace ? `${namespace}:subscribed:` : 'subscribed:';
  }

  start(): void {
    // Sweep often enough that a refresh is never late by more than a quarter period.
    const every = Math.max(50, Math.min(this.cfg.subscribedRefreshMs, this.cfg.expiryMs) / 4);
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async handle(msg: InterestMessage): Promise<void> {
    this.metrics.interestMessages.inc({ op: msg.op });
    const now = this.now();
    const due: string[] = [];
    for (const channel of msg.channels) {
      let e = this.channels.get(channel);
      if (!e) {
        // Never set: due at once whatever the clock's origin (0 would mean "set at the epoch").
        e = { lastSeen: now, lastSet: Number.NEGATIVE_INFINITY };
        this.channels.set(channel, e);
      }
      e.lastSeen = now;
      if (msg.op === 'add' || now - e.lastSet >= this.cfg.subscribedRefreshMs) due.push(channel);
    }
    this.metrics.interestChannels.set(this.channels.size);
    await this.set(due, now);
  }

  /** After Redis lost its data (restart without persistence), put every live key back. */
  async resetAll(): Promise<void> {
    await this.set([...this.channels.keys()], this.now());
  }

  async sweep(): Promise<void> {
    const now = this.now();
    const due: string[] = [];
    for (const [channel, e] of this.channels) {
      if (now - e.lastSeen > this.cfg.expiryMs) this.channels.delete(channel);
      else if (now - e.lastSet >= this.cfg.subscribedRefreshMs) due.push(channel);
    }
    this.metrics.interestChannels.set(this.channels.size);
    await this.set(due, now);
  }

  size(): number {
    return this.channels.size;
  }

  private async set(channels: string[], now: number): Promise<void> {
    if (channels.length === 0) return;
    try {
      await this.store.setAll(
        channels.map((c) => this.keyPrefix + c),
        this.cfg.subscribedTtlMs,
      );
      for (const c of channels) {
        const e = this.channels.get(c);
        if (e) e.lastSet = now;
      }
      this.metrics.subscribedKeysSet.inc(channels.length);
    } catch (err) {
      // Left due: the next sweep retries.
      this.log.warn({ err, count: channels.length }, 'Could not set subscribed: keys');
    }
  }
}
