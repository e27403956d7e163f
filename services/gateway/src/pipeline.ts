/**
 * One event through the gateway, stage by stage, once per event per pod:
 *
 *   subscribe  the hub's recipients of the channel (system channels: `kill`, `filters_changed`)
 *   envelope   event name and filter facts from the NATS headers; payload-less events stop here
 *   filter     one batch call with every recipient (may be async: order is kept)
 *   encode     one SSE frame, one WebSocket frame per distinct `stream` label (per variant)
 *   write      each recipient's bounded send buffer
 *
 * plus one delivery span per event, a child of ingest's span through `traceparent`.
 */
import { type Context, type Span, SpanKind, type Tracer } from '@opentelemetry/api';
import { type Envelope, extractTrace, type Logger, readEnvelope, readSequence } from '@sluice/shared';
import { EventFrames } from './encode/index.js';
import { type EventFilter, type FilterResult, isPromise } from './filter/index.js';
import type { GatewayMetrics } from './metrics.js';
import type { Subscription } from './model.js';
import type { BusMessage, Hub } from './subscribe/index.js';
import { type Connections, type PaceOptions, sendPaced } from './write/index.js';

export interface PipelineOptions {
  hub: Hub;
  filter: EventFilter;
  connections: Connections;
  metrics: GatewayMetrics;
  logger: Logger;
  tracer: Tracer;
  /** Delivery spans only when tracing is on (extracting the context costs per event). */
  tracing: boolean;
  now?: () => number;
  /** Replays wait for a full send buffer this way (see `write/pace.ts`). */
  replayPace?: PaceOptions;
}

export class Pipeline {
  /**
   * Per channel, while async filter results are pending: later events of that channel queue
   * behind them, so each channel keeps its order; other channels (home timelines, lists) are
   * never held up by a slow database.
   */
  private readonly queues = new Map<string, { pending: number; tail: Promise<void> }>();
  private readonly now: () => number;

  constructor(private readonly opts: PipelineOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Every bus message of a held channel comes here. */
  deliver(channel: string, msg: BusMessage): void {
    const { metrics, hub } = this.opts;
    metrics.redisMessagesReceived.inc();
    const recipients = hub.recipients(channel);
    if (!recipients || recipients.size === 0) {
      metrics.eventsDropped.labels('no_recipients').inc();
      return;
    }
    const event = readEnvelope(msg.headers, msg.data);
    // Every recipient of a channel is of one kind: a system channel has only system listeners.
    if (recipients.values().next().value!.system) {
      this.system(event.event, recipients);
      return;
    }
    // Mastodon drops messages without an event or payload (`kill`, `filters_changed`, …).
    if (event.event === '' || event.data.length === 0) {
      metrics.eventsDropped.labels('no_payload').inc();
      return;
    }
    const seq = readSequence(msg.headers);
    const span = this.opts.tracing ? this.startSpan(channel, event, extractTrace(msg.headers)) : undefined;
    const result = this.opts.filter.apply({ channel, event, recipients });
    const queue = this.queues.get(channel);
    if (queue === undefined && !isPromise(result)) {
      this.write(event, seq, result, span);
      return;
    }
    const q = queue ?? { pending: 0, tail: Promise.resolve() };
    if (!queue) this.queues.set(channel, q);
    q.pending++;
    q.tail = q.tail
      .then(() => result)
      .then(
        (r) => this.write(event, seq, r, span),
        (err: unknown) => {
          this.opts.logger.error({ err, channel, event: event.event }, 'Filtering failed; event dropped');
          span?.end();
        },
      )
      .finally(() => {
        if (--q.pending === 0 && this.queues.get(channel) === q) this.queues.delete(channel);
      });
  }

  /**
   * One stored event to one subscription, for an SSE resume: the same filter, written past the
   * held-back live frames, paced by the client's reading. Resolves to false once the connection
   * is gone.
   */
  async replay(sub: Subscription, channel: string, msg: BusMessage, seq: number): Promise<boolean> {
    const conn = sub.conn;
    if (conn.closed) return false;
    const event = readEnvelope(msg.headers, msg.data);
    if (event.event === '' || event.data.length === 0) return true;
    const result = await this.opts.filter.apply({ channel, event, recipients: new Set([sub]) });
    for (const kept of result.deliver) {
      const data = result.variants?.get(kept) ?? event.data;
      const frame = new EventFrames(event.event, data, seq).sse();
      if (!(await sendPaced(conn, frame, this.opts.replayPace))) return false;
      this.opts.metrics.messagesSent[conn.type].inc();
      this.opts.metrics.framesWritten[conn.type].inc();
    }
    return !conn.closed;
  }

  private system(event: string, recipients: ReadonlySet<Subscription>): void {
    if (event === 'kill') {
      // Closing removes the subscription from this very set: iterate a copy.
      for (const sub of [...recipients]) {
        this.opts.logger.debug(
          { accountId: sub.conn.auth.accountId },
          'Closing connection due to expired access token',
        );
        this.opts.connections.close(sub.conn, 'kill');
      }
    } else if (event === 'filters_changed') {
      // Keyword filters are cached per account in the filter stage, not per connection.
      const accounts = new Set<string>();
      for (const sub of recipients) accounts.add(sub.conn.auth.accountId);
      for (const id of accounts) this.opts.filter.filtersChanged?.(id);
    }
  }

  private write(event: Envelope, seq: number | null, result: FilterResult, span: Span | undefined): void {
    const frames = new EventFrames(event.event, event.data, seq);
    const variants = result.variants;
    let variantFrames: Map<Uint8Array, EventFrames> | undefined;
    let ws = 0;
    let sse = 0;
    for (const sub of result.deliver) {
      const conn = sub.conn;
      if (conn.closed) continue;
      let f = frames;
      const data = variants?.get(sub);
      if (data !== undefined) {
        variantFrames ??= new Map();
        let vf = variantFrames.get(data);
        if (!vf) {
          vf = new EventFrames(event.event, data, seq);
          variantFrames.set(data, vf);
        }
        f = vf;
      }
      if (conn.type === 'eventsource') {
        if (conn.deliver(f.sse(), seq)) sse++;
      } else if (conn.deliver(f.ws(sub.labelJson), seq)) ws++;
    }
    const m = this.opts.metrics;
    if (ws > 0) {
      m.messagesSent.websocket.inc(ws);
      m.framesWritten.websocket.inc(ws);
    }
    if (sse > 0) {
      m.messagesSent.eventsource.inc(sse);
      m.framesWritten.eventsource.inc(sse);
    }
    if (event.receivedAt > 0) m.eventLatency.observe(Math.max(0, this.now() - event.receivedAt) / 1000);
    if (span) {
      span.setAttribute('recipients', ws + sse);
      span.setAttribute('dropped', result.dropped);
      span.end();
    }
  }

  private startSpan(channel: string, event: Envelope, parent: Context): Span {
    return this.opts.tracer.startSpan(
      'gateway.deliver',
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          channel,
          event: event.event,
        },
      },
      parent,
    );
  }
}
