import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../metrics.js';
import type { Subscription } from '../model.js';
import { auth, memoryLogger } from '../testing.js';
import { Connections, MemorySink } from '../write/index.js';
import { MemoryBus, MemoryHeaders } from './bus-memory.js';
import { MemoryReplay } from './replay-memory.js';
import { Resumer } from './resume.js';

function setup(channels = ['timeline:public:local'], bus = new MemoryBus(), sendBufferBytes = 1 << 20) {
  const replay = new MemoryReplay();
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const { logger } = memoryLogger();
  const connections = new Connections({ metrics, logger, sendBufferBytes, onClosed: () => {} });
  const sink = new MemorySink('eventsource');
  const conn = connections.create(sink, auth(), 'r');
  connections.add(conn);
  const sub = { conn, channels, name: 'public:local' } as unknown as Subscription;
  const resumer = new Resumer({
    source: replay,
    bus,
    timeoutMs: 50,
    replay: async (s, _channel, msg, seq) => {
      const ok = s.conn.send(Buffer.from(`${seq}:${Buffer.from(msg.data).toString()}`));
      return ok;
    },
    metrics,
    logger,
  });
  // A live event as the pipeline would hand it over while resuming.
  const live = (seq: number, text: string) => conn.deliver(Buffer.from(`${seq}:${text}`), seq);
  return { replay, metrics, conn, sink, sub, resumer, live };
}

const h = () => new MemoryHeaders({ 'Sluice-Event': 'update' });

describe('subscribe - SSE resume', () => {
  it('replays missed events, then live ones, with no gap and no duplicate', async () => {
    const { replay, conn, sink, sub, resumer, live } = setup();
    for (let i = 1; i <= 10; i++) replay.append('timeline:public:local', `e${i}`, h());
    replay.append('timeline:public', 'other', h());
    conn.held = [];
    // Live events that overlap the replay (9, 10) and follow it (12).
    live(9, 'e9');
    live(10, 'e10');
    replay.append('timeline:public:local', 'e12', h());
    live(12, 'e12');
    const result = await resumer.resume(sub, 6);
    expect(result).toBe('replayed');
    expect(sink.frames).toEqual(['7:e7', '8:e8', '9:e9', '10:e10', '12:e12']);
    expect(conn.held).toBeNull();
    live(13, 'e13');
    expect(sink.frames.at(-1)).toBe('13:e13');
  });

  it('merges several channels by sequence', async () => {
    const { replay, conn, sink, sub, resumer } = setup(['timeline:101', 'timeline:101:notifications']);
    replay.append('timeline:101', 'a', h());
    replay.append('timeline:101:notifications', 'b', h());
    replay.append('timeline:999', 'x', h());
    replay.append('timeline:101', 'c', h());
    conn.held = [];
    await resumer.resume(sub, 0);
    expect(sink.frames).toEqual(['1:a', '2:b', '4:c']);
  });

  it('keeps a live event older than the last replayed one of another channel', async () => {
    const { replay, conn, sink, sub, resumer, live } = setup(['timeline:101', 'timeline:101:notifications']);
    replay.append('timeline:101', 'a', h()); // 1
    conn.held = [];
    // Stored after the read of the first channel but before that of the second: only live.
    const read = replay.read.bind(replay);
    replay.read = async (channels, from, limit) => {
      const first = await read([channels[0]!], from, limit);
      replay.append('timeline:101', 'late', h()); // 2
      live(2, 'late');
      replay.append('timeline:101:notifications', 'n', h()); // 3
      const second = await read([channels[1]!], from, limit);
      return { events: [...first.events, ...second.events], complete: true };
    };
    await resumer.resume(sub, 0);
    expect(sink.frames).toEqual(['1:a', '3:n', '2:late']);
  });

  it('resumes live when the id is older than the buffer, and counts it', async () => {
    const { replay, conn, sink, sub, resumer, live, metrics } = setup();
    for (let i = 1; i <= 10; i++) replay.append('timeline:public:local', `e${i}`, h());
    replay.trimBefore(6);
    conn.held = [];
    live(11, 'e11');
    expect(await resumer.resume(sub, 3)).toBe('too_old');
    expect(sink.frames).toEqual(['11:e11']);
    const m = (await metrics.registry.getMetricsAsJSON()).find(
      (x) => x.name === 'sluice_gateway_replay_total',
    );
    expect(m!.values.find((v) => v.labels['result'] === 'too_old')!.value).toBe(1);
  });

  it('resumes live for an id the stream never had, and for the current id', async () => {
    const a = setup();
    a.replay.append('timeline:public:local', 'e1', h());
    a.conn.held = [];
    a.live(1, 'e1');
    expect(await a.resumer.resume(a.sub, 500)).toBe('ahead');
    expect(a.sink.frames).toEqual(['1:e1']);

    const b = setup();
    b.replay.append('timeline:public:local', 'e1', h());
    b.conn.held = [];
    b.live(1, 'e1');
    b.live(2, 'e2');
    expect(await b.resumer.resume(b.sub, 1)).toBe('current');
    expect(b.sink.frames).toEqual(['2:e2']);
  });

  it('counts a partial replay when a channel hit its per-subject cap', async () => {
    const { replay, conn, sink, sub, resumer } = setup();
    replay.perChannelCap = 3;
    for (let i = 1; i <= 6; i++) replay.append('timeline:public:local', `e${i}`, h());
    conn.held = [];
    expect(await resumer.resume(sub, 1)).toBe('partial');
    expect(sink.frames).toEqual(['4:e4', '5:e5', '6:e6']);
  });

  it('continues live when the replay source fails', async () => {
    const { replay, conn, sink, sub, resumer, live } = setup();
    replay.fail = new Error('no JetStream');
    conn.held = [];
    live(5, 'e5');
    expect(await resumer.resume(sub, 2)).toBe('error');
    expect(sink.frames).toEqual(['5:e5']);
  });

  it('resumes live when NATS does not answer in time', async () => {
    const bus = new MemoryBus();
    bus.flush = () => new Promise(() => {});
    const { conn, sink, sub, resumer, live } = setup(undefined, bus);
    conn.held = [];
    live(3, 'e3');
    expect(await resumer.resume(sub, 1)).toBe('error');
    expect(sink.frames).toEqual(['3:e3']);
  });

  it('disconnects a client whose held-back live frames pass the send buffer bound', async () => {
    const bus = new MemoryBus();
    bus.flush = () => new Promise(() => {});
    const { conn, sink, live } = setup(undefined, bus, 100);
    conn.held = [];
    expect(live(1, 'x'.repeat(60))).toBe(true);
    expect(live(2, 'x'.repeat(60))).toBe(false);
    expect(conn.closed).toBe(true);
    expect(sink.aborted).toBe(true);
  });

  it('parses Last-Event-ID from the header, else the lastEventId query', () => {
    expect(Resumer.parseId('42', undefined)).toBe(42);
    expect(Resumer.parseId(undefined, '7')).toBe(7);
    expect(Resumer.parseId('', '7')).toBe(7);
    expect(Resumer.parseId('abc', undefined)).toBeNull();
    expect(Resumer.parseId('-1', undefined)).toBeNull();
    expect(Resumer.parseId(undefined, ['1', '2'])).toBeNull();
  });
});
