/**
 * The ingest pipeline, top to bottom: receive (Redis) → normalise (parse once, facts,
 * msg-id) → publish (JetStream, ordered, bounded). Invalid input is counted and logged with
 * its channel, then skipped; it never stops the messages behind it.
 */
import { context, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { channelToSubject, injectTrace, type Logger, messageId, writeHeaders } from '@sluice/shared';
import type { IngestMetrics, InvalidReason } from './metrics.js';
import { normalise } from './normalise/normalise.js';
import type { OccurrenceCounter } from './normalise/occurrences.js';
import type { Publisher } from './publish/publisher.js';
import { WireHeaders } from './publish/wire-headers.js';
import type { MessageHandler } from './receive/source.js';

export interface PipelineDeps {
  prefix: string;
  /** Distinguishes Rails' repeated identical messages from replica copies. */
  occurrences: OccurrenceCounter;
  publisher: Publisher;
  metrics: IngestMetrics;
  log: Logger;
  tracer: Tracer | null;
  /** NATS's current max payload (the server tells us on connect). */
  maxPayload: () => number;
}

/** Room for our headers and the subject on top of the payload. */
const HEADER_ALLOWANCE = 2048;

export function createPipeline(deps: PipelineDeps): MessageHandler {
  const { prefix, publisher, metrics, tracer } = deps;
  const logInvalid = rateLimitedWarn(deps.log);

  const skip = (reason: InvalidReason, channel: string, size: number, detail?: string) => {
    metrics.invalid.inc({ reason });
    logInvalid({ channel, reason, size, detail }, 'Error parsing message from redis');
  };

  return (channel, raw) => {
    metrics.received.inc();
    metrics.redisMessagesReceived.inc();
    const receivedAt = Date.now();
    const limit = deps.maxPayload() - HEADER_ALLOWANCE;
    // Checked before parsing so a huge message costs no JSON work.
    if (raw.byteLength > limit * 2) return skip('too_large', channel, raw.byteLength);
    let subject: string;
    try {
      subject = channelToSubject(prefix, 'in', channel);
    } catch (err) {
      return skip('bad_channel', channel, raw.byteLength, (err as Error).message);
    }
    const n = normalise(raw, receivedAt);
    if (!n.ok) return skip(n.reason, channel, raw.byteLength, n.detail);
    const env = n.envelope;
    if (env.data.byteLength > limit) return skip('too_large', channel, env.data.byteLength);

    const msgId = deps.occurrences.idFor(messageId(channel, raw));
    const h = new WireHeaders();
    writeHeaders(h, env, msgId);
    let span: Span | null = null;
    if (tracer) {
      span = tracer.startSpan('sluice.ingest publish', {
        kind: SpanKind.PRODUCER,
        startTime: receivedAt,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': subject,
          'sluice.channel': channel,
          'sluice.event': env.event,
          'messaging.message.body.size': env.data.byteLength,
        },
      });
      injectTrace(h, trace.setSpan(context.active(), span));
    }
    publisher.enqueue({
      subject,
      data: env.data,
      msgId,
      headers: h,
      receivedAt,
      ...(span
        ? {
            done: (o) => {
              if ('dropped' in o) {
                span.setAttribute('sluice.dropped', true);
                span.setStatus({ code: SpanStatusCode.ERROR, message: 'buffer full' });
              } else span.setAttribute('sluice.duplicate', o.duplicate);
              span.end();
            },
          }
        : {}),
    });
  };
}

/** At most ~20 warnings a second, with a count of the ones suppressed. */
function rateLimitedWarn(log: Logger) {
  let windowStart = 0;
  let count = 0;
  let suppressed = 0;
  return (obj: Record<string, unknown>, msg: string) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      if (suppressed > 0) log.warn({ suppressed }, 'Suppressed repeated invalid-message warnings');
      windowStart = now;
      count = 0;
      suppressed = 0;
    }
    if (++count <= 20) log.warn(obj, msg);
    else suppressed++;
  };
}
