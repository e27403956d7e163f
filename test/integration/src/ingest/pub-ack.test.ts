/**
 * Ingest's JetStream publishing against a real nats-server: publishes carry a reply subject on
 * one shared inbox and ingest matches the PubAcks itself (services/ingest/src/publish/
 * jetstream-bus.ts). Each publish gets its own outcome (stored / duplicate) however many are in
 * flight, and the failures come out as js.publish() reported them: no stream, timeout, API
 * error, invalid ack, closed connection.
 */
import { createIngestMetrics } from '@sluice/ingest/dist/metrics.js';
import { JetStreamBus } from '@sluice/ingest/dist/publish/jetstream-bus.js';
import type { Outgoing } from '@sluice/ingest/dist/publish/publisher.js';
import { WireHeaders } from '@sluice/ingest/dist/publish/wire-headers.js';
import { connectNats as connectSluiceNats, createLogger, loadConfig } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import { connectNats, servers, streamInfo, testScope } from '../harness/index.js';
import { TEST_STREAM_ENV } from './helpers.js';

const quiet = createLogger({ name: 'test', level: 'fatal' });

async function makeBus(timeoutMs = 2000) {
  const scope = testScope();
  const cfg = loadConfig(
    { NATS_URL: servers().natsUrl, ...TEST_STREAM_ENV, ...scope.env, SLUICE_INGEST_JOIN_DELAY_SECONDS: '0' },
    'ingest',
  );
  const nc = await connectSluiceNats(cfg.nats, 'sluice-pub-ack-test');
  const bus = new JetStreamBus(nc, cfg.stream, scope.prefix, timeoutMs, createIngestMetrics(), quiet);
  return { scope, nc, bus };
}

function outgoing(subject: string, msgId: string, body = msgId): Outgoing {
  const headers = new WireHeaders();
  headers.set('Nats-Msg-Id', msgId);
  return { subject, data: Buffer.from(body), msgId, headers, receivedAt: Date.now() };
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the publish to fail');
}

describe('ingest: PubAck matching', () => {
  it('gives each of many in-flight publishes its own outcome, stored or duplicate', async () => {
    const { scope, nc, bus } = await makeBus();
    try {
      await bus.ensureStream();
      const subject = `${scope.prefix}.in.public`;
      // 3,000 publishes in flight at once; every third repeats an id sent just before it.
      const ids = Array.from({ length: 3000 }, (_, i) => (i % 3 === 2 ? `id-${i - 1}` : `id-${i}`));
      const acks = await Promise.all(ids.map((id, i) => bus.publish(outgoing(subject, id, `body-${i}`))));
      expect(acks.map((a) => a.duplicate)).toEqual(ids.map((_, i) => i % 3 === 2));
      // Stored once each (the conduit keeps only its last 1,000, so count by sequence).
      expect((await streamInfo(nc, scope.stream))?.state.last_seq).toBe(2000);
    } finally {
      await nc.close();
    }
  });

  it('reports a subject no stream captures as no_stream', async () => {
    const { scope, nc, bus } = await makeBus();
    try {
      // The stream was never created: nats-server answers "no responders".
      const err = await failure(bus.publish(outgoing(`${scope.prefix}.in.public`, 'x')));
      expect(bus.classify(err)).toBe('no_stream');
    } finally {
      await nc.close();
    }
  });

  it('times a publish out after the timeout when nobody acknowledges it, and ignores a late ack', async () => {
    const { scope, nc, bus } = await makeBus(300);
    const other = await connectNats();
    try {
      const subject = `${scope.prefix}.in.silent`;
      const replies: string[] = [];
      other.subscribe(subject, {
        callback: (_e, m) => {
          replies.push(m.reply ?? '');
        },
      });
      await other.flush();
      const started = Date.now();
      const err = await failure(bus.publish(outgoing(subject, 'late')));
      const took = Date.now() - started;
      expect(bus.classify(err)).toBe('timeout');
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(1500);
      // An ack that comes after the timeout changes nothing.
      expect(replies).toHaveLength(1);
      other.publish(replies[0]!, '{"stream":"X","seq":1}');
      await other.flush();
      await nc.flush();
    } finally {
      await other.close();
      await nc.close();
    }
  });

  it('turns an API error into a rejection, and an ack with an empty stream into "invalid ack response"', async () => {
    const { scope, nc, bus } = await makeBus();
    const other = await connectNats();
    try {
      other.subscribe(`${scope.prefix}.in.err`, {
        callback: (_e, m) => {
          m.respond('{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}');
        },
      });
      other.subscribe(`${scope.prefix}.in.empty`, {
        callback: (_e, m) => {
          m.respond('{"stream":"","seq":1}');
        },
      });
      await other.flush();
      const apiErr = await failure(bus.publish(outgoing(`${scope.prefix}.in.err`, 'a')));
      expect(String(apiErr)).toMatch(/maximum messages exceeded/);
      expect(bus.classify(apiErr)).toBe('other');
      const invalid = await failure(bus.publish(outgoing(`${scope.prefix}.in.empty`, 'b')));
      expect(String(invalid)).toMatch(/invalid ack response/);
    } finally {
      await other.close();
      await nc.close();
    }
  });

  it('fails pending publishes when the connection closes', async () => {
    const { scope, nc, bus } = await makeBus(10_000);
    const other = await connectNats();
    try {
      other.subscribe(`${scope.prefix}.in.silent`, { callback: () => {} });
      await other.flush();
      const pending = failure(bus.publish(outgoing(`${scope.prefix}.in.silent`, 'c')));
      await nc.close();
      expect(bus.classify(await pending)).toBe('disconnected');
    } finally {
      await other.close();
    }
  });
});
