/**
 * Interest announcer (DESIGN decision 9). Rails publishes personal timelines only while a
 * `subscribed:<channel>` key exists; ingest keeps those keys from what gateways announce:
 *   - `add` as soon as a channel gains its first local subscriber (first uses in the same tick
 *     share one message), so the key exists well within a second;
 *   - `snapshot` of every held channel every `snapshotMs`, and after a NATS reconnect.
 * There is no `remove`: interest nobody re-announces expires in ingest.
 */
import { chunkInterest, encodeInterest, type InterestMessage, type Logger } from '@sluice/shared';

export interface InterestOptions {
  publish: (data: Uint8Array) => void;
  gatewayId: string;
  snapshotMs: number;
  /** The channels held right now. */
  channels: () => Iterable<string>;
  logger: Logger;
  onPublished?: (op: InterestMessage['op']) => void;
}

export class InterestAnnouncer {
  private pending: string[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: InterestOptions) {}

  /** A channel gained its first local subscriber. */
  added(channel: string): void {
    this.pending.push(channel);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flushAdds());
  }

  flushAdds(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const channels = this.pending;
    this.pending = [];
    this.send('add', channels);
  }

  snapshot(): void {
    this.send('snapshot', this.opts.channels());
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.snapshot(), this.opts.snapshotMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private send(op: InterestMessage['op'], channels: Iterable<string>): void {
    for (const msg of chunkInterest(op, this.opts.gatewayId, channels)) {
      try {
        this.opts.publish(encodeInterest(msg));
        this.opts.onPublished?.(op);
      } catch (err) {
        this.opts.logger.error({ err, op }, 'Failed to publish interest');
      }
    }
  }
}
