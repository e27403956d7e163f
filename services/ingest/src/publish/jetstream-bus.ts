import {
  JetStreamApiCodes,
  JetStreamApiError,
  JetStreamError,
  type JetStreamManager,
  jetstreamManager,
} from '@nats-io/jetstream';
import { createInbox, errors, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { type Logger, replayStreamDefinition, type StreamConfig, streamDefinition } from '@sluice/shared';
import type { IngestMetrics, PublishErrorKind } from '../metrics.js';
import type { Outgoing, PublishAck, StreamBus } from './publisher.js';

/** A publish waiting for its PubAck. */
interface PendingAck {
  resolve: (ack: PublishAck) => void;
  reject: (err: unknown) => void;
  subject: string;
  /** `performance.now()` after which the publish has timed out. */
  deadline: number;
}

/**
 * The real {@link StreamBus}: JetStream publishes with `Nats-Msg-Id`, and the stream that
 * ingest owns (created or updated at start, re-created when a NATS restart lost it).
 *
 * Publishing goes below nats.js's `js.publish()`, for cost (docs/benchmarks.md, "t5: cheaper
 * ingest"): `js.publish()` is an `nc.request()`, and for each request nats.js 3.4 arms its own
 * timer, creates half a dozen promises, and builds an `Error` with a stack trace
 * (`RequestError("cancelled")`) after every *successful* reply, even with `noAsyncTraces`; no
 * publish option turns that off. So, as the Go client's `PublishAsync` does, every publish
 * carries a reply subject under one inbox (`<_INBOX.nuid>.<n>`), one wildcard subscription
 * receives the PubAcks, and they are matched to their publishes here.
 * What stays as with `js.publish()`: the same `Nats-Msg-Id` header (dedup), the PubAck parsed and
 * checked the same way (API error → `JetStreamApiError`, empty stream → "invalid ack response",
 * a 503 no-responders status → an error `classify` calls `no_stream`), a publish failing with
 * `TimeoutError` after `timeoutMs`, a publish-permission violation failing the oldest pending
 * publish to that subject, and a closed connection failing every pending publish. Deadlines are
 * in send order (one timeout for all), so only the oldest pending publish needs a timer.
 * test/integration/src/ingest/pub-ack.test.ts checks these outcomes against a real nats-server.
 */
export class JetStreamBus implements StreamBus {
  private jsm: JetStreamManager | null = null;
  private isConnected = true;
  private waiters: (() => void)[] = [];
  /** Reply subjects are `<inbox><token>`. */
  private readonly inbox: string;
  /** Pending publishes by token, in send order (so in deadline order). */
  private readonly pending = new Map<string, PendingAck>();
  private nextToken = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: StreamConfig,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
  ) {
    this.inbox = `${createInbox()}.`;
    nc.subscribe(`${this.inbox}*`, { callback: (err, msg) => this.onAck(err, msg) });
    void this.watchErrors();
    void nc.closed().then(() => this.failAll(new errors.ClosedConnectionError()));
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
    return new Promise((resolve, reject) => {
      const token = (this.nextToken++).toString(36);
      try {
        this.nc.publish(msg.subject, msg.data, {
          reply: this.inbox + token,
          headers: msg.headers as MsgHdrs,
        });
      } catch (err) {
        reject(err);
        return;
      }
      this.pending.set(token, {
        resolve,
        reject,
        subject: msg.subject,
        deadline: performance.now() + this.timeoutMs,
      });
      if (this.timer === null) this.armTimer();
    });
  }

  private onAck(err: Error | null, msg: Msg): void {
    if (err) {
      // The inbox subscription itself failed (e.g. a permission violation): nothing will come.
      this.failAll(err);
      return;
    }
    const token = msg.subject.slice(this.inbox.length);
    const p = this.pending.get(token);
    if (!p) return; // already timed out
    this.pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      p.reject(new errors.NoRespondersError(p.subject));
      return;
    }
    let ack: {
      stream?: string;
      duplicate?: boolean;
      error?: ConstructorParameters<typeof JetStreamApiError>[0];
    };
    try {
      ack = msg.json();
    } catch (e) {
      p.reject(e);
      return;
    }
    if (ack.error) p.reject(new JetStreamApiError(ack.error));
    else if (ack.stream === '') p.reject(new JetStreamError('invalid ack response'));
    else p.resolve({ duplicate: ack.duplicate === true });
  }

  /** One timer, due at the oldest pending publish's deadline. */
  private armTimer(): void {
    const oldest = this.pending.values().next();
    if (oldest.done) return;
    this.timer = setTimeout(() => this.expire(), Math.max(0, oldest.value.deadline - performance.now()) + 1);
  }

  private expire(): void {
    this.timer = null;
    const now = performance.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(token);
      p.reject(new errors.TimeoutError());
    }
    this.armTimer();
  }

  private failAll(err: unknown): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const p of all) p.reject(err);
  }

  /** nats.js reports a publish-permission violation as a status: fail the oldest such publish. */
  private async watchErrors(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type !== 'error' || !(s.error instanceof errors.PermissionViolationError)) continue;
      const pe = s.error;
      if (pe.operation !== 'publish') continue;
      for (const [token, p] of this.pending) {
        if (p.subject !== pe.subject) continue;
        this.pending.delete(token);
        p.reject(pe);
        break;
      }
    }
  }

  classify(err: unknown): PublishErrorKind {
    if ((err as Error)?.name === 'JetStreamNotEnabled' || /jetstream is not enabled/i.test(String(err)))
      return 'no_stream';
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.JetStreamNotEnabledForAccount)
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
