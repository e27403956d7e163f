import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { errors, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { type Logger, replayStreamDefinition, type StreamConfig, streamDefinition } from '@sluice/shared';
import type { IngestMetrics, PublishErrorKind } from '../metrics.js';
import type { Outgoing, PublishAck, StreamBus } from './publisher.js';

/**
 * The real {@link StreamBus}: JetStream publishes with `Nats-Msg-Id`, and the stream that
 * ingest owns (created or updated at start, re-created when a NATS restart lost it).
 */
export class JetStreamBus implements StreamBus {
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | null = null;
  private isConnected = true;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: StreamConfig,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
  ) {
    this.js = jetstream(nc);
  }

  setConnected(up: boolean): void {
    this.isConnected = up;
    this.metrics.natsConnected.set(up ? 1 : 0);
    if (up) for (const w of this.waiters.splice(0)) w();
  }

  connected(): boolean {
    return this.isConnected && !this.nc.isClosed();
  }

  async waitConnected(): Promise<void> {
    if (this.connected()) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  publish(msg: Outgoing): Promise<PublishAck> {
    return this.js.publish(msg.subject, msg.data, {
      msgID: msg.msgId,
      headers: msg.headers as MsgHdrs,
      timeout: this.timeoutMs,
    });
  }

  classify(err: unknown): PublishErrorKind {
    if ((err as Error)?.name === 'JetStreamNotEnabled' || /jetstream is not enabled/i.test(String(err)))
      return 'no_stream';
    if (err instanceof errors.TimeoutError) return 'timeout';
    if (err instanceof errors.ClosedConnectionError || err instanceof errors.ConnectionError)
      return 'disconnected';
    const text = String((err as Error)?.message ?? err);
    if (/no responders|stream not found/i.test(text)) return 'no_stream';
    if (/disconnect|closed/i.test(text)) return 'disconnected';
    if (/timeout/i.test(text)) return 'timeout';
    return 'other';
  }

  /**
   * Creates the streams, or updates them when their configuration differs (idempotent). The
   * replay buffer first, so that it captures the conduit's very first republished event.
   */
  async ensureStream(): Promise<void> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: this.timeoutMs });
    await this.ensureOne(replayStreamDefinition(this.stream, this.prefix));
    await this.ensureOne(streamDefinition(this.stream, this.prefix));
  }

  private async ensureOne(want: { name: string; subjects: string[]; storage: string }): Promise<void> {
    const jsm = this.jsm!;
    let info: Awaited<ReturnType<JetStreamManager['streams']['info']>> | null = null;
    try {
      info = await jsm.streams.info(want.name);
    } catch (err) {
      if (!/stream not found/i.test(String((err as Error).message))) throw err;
    }
    if (!info) {
      await jsm.streams.add(want as never);
      this.metrics.streamCreated.inc();
      this.log.info({ stream: want.name, subjects: want.subjects }, 'Created JetStream stream');
      return;
    }
    const have = info.config as unknown as Record<string, unknown>;
    const differs = (Object.keys(want) as (keyof typeof want)[]).some(
      (k) => JSON.stringify(have[k]) !== JSON.stringify(want[k]),
    );
    if (differs) {
      if (have['storage'] !== want.storage) {
        this.log.error(
          { stream: want.name, have: have['storage'], want: want.storage },
          'Stream storage type differs and cannot be changed in place; delete the stream to switch',
        );
      }
      const { storage: _storage, ...updatable } = want;
      await jsm.streams.update(want.name, updatable as never);
      this.log.info({ stream: want.name }, 'Updated JetStream stream configuration');
    }
  }
}
