import type { MsgHdrs } from '@nats-io/transport-node';
import { channelToSubject, createLogger, Header, messageId } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import { createIngestMetrics, INVALID_REASONS, type IngestMetrics } from './metrics.js';
import { OccurrenceCounter } from './normalise/occurrences.js';
import { createPipeline } from './pipeline.js';
import type { Outgoing, PublishAck, StreamBus } from './publish/publisher.js';
import { Publisher } from './publish/publisher.js';
import { MemorySource } from './receive/source-memory.js';

const PREFIX = 'sluice';

/** Counts what the pipeline logs, writes nothing. */
function quietLogger() {
  const lines: string[] = [];
  const log = createLogger({
    name: 'test',
    level: 'warn',
    destination: { write: (l: string) => lines.push(l) },
  });
  return { log, lines };
}

/** A bus that acknowledges every publish at once and keeps what it got, in order. */
class RecordingBus implements StreamBus {
  readonly got: Outgoing[] = [];
  async publish(msg: Outgoing): Promise<PublishAck> {
    const duplicate = this.got.some((m) => m.msgId === msg.msgId);
    this.got.push(msg);
    return { duplicate };
  }
  classify() {
    return 'other' as const;
  }
  async ensureStream(): Promise<void> {}
  async waitConnected(): Promise<void> {}
  connected(): boolean {
    return true;
  }
}

async function setup(maxPayload = 1024 * 1024) {
  const bus = new RecordingBus();
  const metrics = createIngestMetrics();
  const { log, lines } = quietLogger();
  const publisher = new Publisher(
    bus,
    { maxInFlight: 16, bufferMessages: 1000, bufferBytes: 1 << 24 },
    metrics,
    log,
  );
  const source = new MemorySource();
  let payloadLimit = maxPayload;
  await source.start(
    createPipeline({
      prefix: PREFIX,
      occurrences: new OccurrenceCounter(30_000),
      publisher,
      metrics,
      log,
      tracer: null,
      maxPayload: () => payloadLimit,
    }),
  );
  const settle = async () => {
    expect(await publisher.flush(1000)).toBe(true);
  };
  const setMaxPayload = (n: number) => {
    payloadLimit = n;
  };
  return { bus, metrics, source, publisher, settle, lines, setMaxPayload };
}

async function metric(metrics: IngestMetrics, name: string, labels: Record<string, string> = {}) {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  const v = values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

async function invalidCounts(metrics: IngestMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const reason of INVALID_REASONS)
    out[reason] = await metric(metrics, 'sluice_ingest_invalid_messages_total', { reason });
  return out;
}

const hdrs = (m: Outgoing) => m.headers as MsgHdrs;
const text = (d: Uint8Array) => Buffer.from(d).toString('utf8');

const STATUS = {
  id: '110',
  content: '\u003cp\u003eBonjour\u003c/p\u003e',
  language: 'fr',
  account: { id: '7', username: 'bob', acct: 'bob@remote.example' },
  mentions: [{ id: '1' }, { id: '2' }],
  media_attachments: [{ id: '3' }],
  filtered: [],
};

describe('pipeline - valid messages', () => {
  it('publishes to the subject channelToSubject gives, with the re-serialised payload', async () => {
    const { bus, source, settle, metrics } = await setup();
    const channels = [
      'timeline:public:local',
      'timeline:hashtag:café:local',
      'timeline:123:notifications',
      'timeline:access_token:9',
      'something:else',
    ];
    for (const c of channels) source.push(c, '{"event":"delete","payload":"110"}');
    await settle();
    expect(bus.got.map((m) => m.subject)).toEqual(channels.map((c) => channelToSubject(PREFIX, 'in', c)));
    expect(bus.got[0]!.subject).toBe('sluice.in.public.local');
    expect(bus.got[2]!.subject).toBe('sluice.in.user.123.notifications');
    expect(bus.got.every((m) => text(m.data) === '110')).toBe(true);
    expect(await metric(metrics, 'sluice_ingest_messages_received_total')).toBe(5);
    expect(await metric(metrics, 'redis_messages_received_total')).toBe(5);
    expect(await metric(metrics, 'sluice_ingest_messages_published_total')).toBe(5);
  });

  it('headers carry the msg id, the event and the status facts', async () => {
    const { bus, source, settle } = await setup();
    const raw = JSON.stringify({ event: 'update', payload: STATUS });
    const before = Date.now();
    source.push('timeline:public', raw);
    await settle();
    const [m] = bus.got;
    const h = hdrs(m!);
    expect(m!.msgId).toBe(messageId('timeline:public', Buffer.from(raw)));
    expect(h.get(Header.MsgId)).toBe(m!.msgId);
    expect(h.get(Header.Event)).toBe('update');
    expect(h.get(Header.Account)).toBe('7');
    expect(h.get(Header.Domain)).toBe('remote.example');
    expect(h.get(Header.Mentions)).toBe('1,2');
    expect(h.get(Header.Language)).toBe('fr');
    expect(h.get(Header.Local)).toBe('0');
    expect(h.get(Header.Media)).toBe('1');
    expect(h.get(Header.Filtered)).toBe('1');
    expect(h.has(Header.LocalOnly)).toBe(false);
    const received = Number(h.get(Header.Received));
    expect(received).toBeGreaterThanOrEqual(before);
    expect(m!.receivedAt).toBe(received);
    expect(text(m!.data)).toBe(JSON.stringify(STATUS));
    expect(text(m!.data)).toContain('<p>Bonjour</p>');
  });

  it('events without status facts carry no fact headers', async () => {
    const { bus, source, settle } = await setup();
    source.push('timeline:system:5', '{"event":"kill"}');
    await settle();
    const h = hdrs(bus.got[0]!);
    expect(h.get(Header.Event)).toBe('kill');
    expect(bus.got[0]!.data.byteLength).toBe(0);
    for (const name of [Header.Account, Header.Domain, Header.Mentions, Header.Language, Header.Local])
      expect(h.has(name)).toBe(false);
  });

  it('a repeat of identical (channel, raw) gets its own id, as on every replica; another channel or body another one', async () => {
    const { bus, source, settle, metrics } = await setup();
    const raw = '{"event":"delete","payload":"110"}';
    source.push('timeline:1', raw);
    source.push('timeline:1', Buffer.from(raw));
    source.push('timeline:2', raw);
    source.push('timeline:1', '{"event":"delete","payload":"111"}');
    // Same meaning, different bytes: a different message as far as dedup knows.
    source.push('timeline:1', '{"payload":"110","event":"delete"}');
    await settle();
    const [a, b, c, d, e] = bus.got.map((m) => m.msgId);
    // Rails published it twice (e.g. two identical `kill`s): both must be stored.
    expect(b).toBe(`${a}.1`);
    expect(new Set([a, b, c, d, e]).size).toBe(5);
    expect(await metric(metrics, 'sluice_ingest_duplicates_total')).toBe(0);
    // Another replica seeing the same Redis messages computes the same ids.
    const other = await setup();
    for (const [ch, r] of [
      ['timeline:1', raw],
      ['timeline:1', raw],
    ] as const)
      other.source.push(ch, r);
    await other.settle();
    expect(other.bus.got.map((m) => m.msgId)).toEqual([a, b]);
  });

  it('keeps the Redis order across channels', async () => {
    const { bus, source, settle } = await setup();
    for (let i = 0; i < 100; i++) source.push(`timeline:${i % 3}`, `{"event":"delete","payload":"${i}"}`);
    await settle();
    expect(bus.got.map((m) => text(m.data))).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  });
});

describe('pipeline - invalid messages are counted and skipped', () => {
  it('counts each by reason and lets the next valid message through', async () => {
    const { bus, source, settle, metrics, lines } = await setup();
    const valid = (n: number) => `{"event":"delete","payload":"${n}"}`;
    source.push('timeline:public', '');
    source.push('timeline:public', valid(1));
    source.push('timeline:public', Buffer.from([0x7b, 0xc3, 0x28, 0x7d]));
    source.push('timeline:public', valid(2));
    source.push('timeline:public', 'not json');
    source.push('timeline:public', valid(3));
    source.push('timeline:public', '[{"event":"update"}]');
    source.push('timeline:public', '{"payload":"x"}');
    source.push('timeline:public', valid(4));
    source.push(`timeline:hashtag:${'x'.repeat(3000)}`, valid(5));
    source.push('timeline:public', valid(6));
    await settle();
    expect(bus.got.map((m) => text(m.data))).toEqual(['1', '2', '3', '4', '6']);
    expect(await invalidCounts(metrics)).toEqual({
      empty: 1,
      invalid_utf8: 1,
      not_json: 1,
      missing_event: 2,
      too_large: 0,
      bad_channel: 1,
    });
    expect(await metric(metrics, 'sluice_ingest_messages_received_total')).toBe(11);
    // Logged like Mastodon, with the channel.
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warned).toHaveLength(6);
    expect(warned[0]).toMatchObject({
      msg: 'Error parsing message from redis',
      channel: 'timeline:public',
      reason: 'empty',
    });
  });

  it('rate-limits the warnings but still counts every invalid message', async () => {
    const { source, settle, metrics, lines } = await setup();
    for (let i = 0; i < 50; i++) source.push('timeline:public', 'nope');
    await settle();
    expect(await metric(metrics, 'sluice_ingest_invalid_messages_total', { reason: 'not_json' })).toBe(50);
    expect(lines.length).toBeLessThanOrEqual(21);
  });
});

describe('pipeline - too_large against the NATS max payload', () => {
  // maxPayload 4096 leaves 4096 − 2048 = 2048 bytes for the payload.
  const MAX = 4096;
  const LIMIT = MAX - 2048;
  const stringMsg = (n: number) => JSON.stringify({ event: 'delete', payload: 'x'.repeat(n) });

  it('a payload exactly at the limit passes, one byte more is too_large', async () => {
    const { bus, source, settle, metrics } = await setup(MAX);
    source.push('timeline:public', stringMsg(LIMIT));
    source.push('timeline:public', stringMsg(LIMIT + 1));
    source.push('timeline:public', stringMsg(1));
    await settle();
    expect(bus.got.map((m) => m.data.byteLength)).toEqual([LIMIT, 1]);
    expect(await metric(metrics, 'sluice_ingest_invalid_messages_total', { reason: 'too_large' })).toBe(1);
  });

  it('judges the re-serialised payload, not the raw message: escapes that shrink may pass', async () => {
    const { bus, source, settle, metrics } = await setup(MAX);
    // 600 × "\u003c" is 3600 raw bytes but 600 bytes once re-serialised.
    const raw = `{"event":"notification","payload":{"t":"${'\\u003c'.repeat(600)}"}}`;
    expect(raw.length).toBeGreaterThan(LIMIT);
    expect(raw.length).toBeLessThan(2 * LIMIT);
    source.push('timeline:1:notifications', raw);
    await settle();
    expect(bus.got).toHaveLength(1);
    expect(text(bus.got[0]!.data)).toBe(`{"t":"${'<'.repeat(600)}"}`);
    expect(await metric(metrics, 'sluice_ingest_invalid_messages_total', { reason: 'too_large' })).toBe(0);
  });

  it('a raw message over twice the limit is refused before parsing, even if not JSON', async () => {
    const { bus, source, settle, metrics } = await setup(MAX);
    source.push('timeline:public', 'x'.repeat(2 * LIMIT + 1));
    source.push('timeline:public', stringMsg(1));
    await settle();
    expect(bus.got).toHaveLength(1);
    expect(await invalidCounts(metrics)).toMatchObject({ too_large: 1, not_json: 0 });
  });

  it('follows maxPayload as it changes (a reconnect to another server)', async () => {
    const { bus, source, settle, metrics, setMaxPayload } = await setup(1024 * 1024);
    source.push('timeline:public', stringMsg(LIMIT + 100));
    setMaxPayload(MAX);
    source.push('timeline:public', stringMsg(LIMIT + 100));
    await settle();
    expect(bus.got).toHaveLength(1);
    expect(await metric(metrics, 'sluice_ingest_invalid_messages_total', { reason: 'too_large' })).toBe(1);
  });
});
