import { createLogger } from '@sluice/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createIngestMetrics, type IngestMetrics, type PublishErrorKind } from '../metrics.js';
import {
  type Outgoing,
  type PublishAck,
  Publisher,
  type PublisherOptions,
  type StreamBus,
} from './publisher.js';

const log = createLogger({ name: 'test', level: 'fatal', destination: { write() {} } });

/** What the fake does with one publish call (`lost_ack`: stored, but the caller sees a timeout). */
type Outcome = 'ok' | 'duplicate' | 'fail' | 'lost_ack' | 'hold';

interface Call {
  msg: Outgoing;
  state: 'pending' | 'stored' | 'duplicate' | 'failed';
  /** Settles a held call. */
  succeed(): void;
  fail(err?: Error): void;
  lostAck(): void;
}

/**
 * A JetStream stand-in: deduplicates by msg id like the stream does, and can be told per call to
 * succeed, fail, report a duplicate or hold the call until the test settles it. Like the server,
 * it stores messages in the order it receives them (the order of publish calls), whatever order
 * the test settles held calls in.
 */
class FakeBus implements StreamBus {
  readonly calls: Call[] = [];
  up = true;
  ensureStreamCalls = 0;
  ensureStreamFailures = 0;
  waitConnectedFailures = 0;
  waitConnectedCalls = 0;
  maxPending = 0;
  kind: PublishErrorKind = 'other';
  outcome: (msg: Outgoing, index: number) => Outcome = () => 'ok';
  private waiters: (() => void)[] = [];

  publish(msg: Outgoing): Promise<PublishAck> {
    return new Promise<PublishAck>((resolve, reject) => {
      const call: Call = {
        msg,
        state: 'pending',
        succeed: () => {
          if (call.state !== 'pending') throw new Error('settled twice');
          const seen = this.calls.some((c) => c.state === 'stored' && c.msg.msgId === msg.msgId);
          call.state = seen ? 'duplicate' : 'stored';
          resolve({ duplicate: seen });
        },
        fail: (err = new Error('publish failed')) => {
          if (call.state !== 'pending') throw new Error('settled twice');
          call.state = 'failed';
          reject(err);
        },
        lostAck: () => {
          if (call.state !== 'pending') throw new Error('settled twice');
          call.state = 'stored';
          reject(new Error('timeout'));
        },
      };
      const index = this.calls.push(call) - 1;
      this.maxPending = Math.max(this.maxPending, this.pending().length);
      const what = this.outcome(msg, index);
      if (what === 'ok') call.succeed();
      else if (what === 'fail') call.fail();
      else if (what === 'lost_ack') call.lostAck();
      else if (what === 'duplicate') {
        call.state = 'duplicate';
        resolve({ duplicate: true });
      }
    });
  }

  classify(): PublishErrorKind {
    return this.kind;
  }

  async ensureStream(): Promise<void> {
    this.ensureStreamCalls++;
    if (this.ensureStreamFailures > 0) {
      this.ensureStreamFailures--;
      throw new Error('stream not found');
    }
  }

  async waitConnected(): Promise<void> {
    this.waitConnectedCalls++;
    if (this.waitConnectedFailures > 0) {
      this.waitConnectedFailures--;
      throw new Error('not yet');
    }
    if (this.up) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  connected(): boolean {
    return this.up;
  }

  disconnect(): void {
    this.up = false;
  }

  reconnect(): void {
    this.up = true;
    for (const w of this.waiters.splice(0)) w();
  }

  pending(): Call[] {
    return this.calls.filter((c) => c.state === 'pending');
  }

  sentIds(): string[] {
    return this.calls.map((c) => c.msg.msgId);
  }

  /** Msg ids in the order the stream stored them. */
  get stored(): string[] {
    return this.calls.filter((c) => c.state === 'stored').map((c) => c.msg.msgId);
  }
}

function msg(i: number, bytes = 10): Outgoing {
  return {
    subject: 'sluice.in.public',
    data: new Uint8Array(bytes),
    msgId: `m${i}`,
    headers: null,
    receivedAt: Date.now(),
  };
}

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

function setup(opts: Partial<PublisherOptions> = {}) {
  const bus = new FakeBus();
  const metrics = createIngestMetrics();
  const publisher = new Publisher(
    bus,
    { maxInFlight: 4, bufferMessages: 1000, bufferBytes: 1 << 20, ...opts },
    metrics,
    log,
  );
  return { bus, metrics, publisher };
}

async function metric(metrics: IngestMetrics, name: string, labels: Record<string, string> = {}) {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  const v = values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

/** Lets every already-resolved promise chain run (one macrotask turn, no timers involved). */
const drain = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe('publisher - ordered and pipelined', () => {
  it('sends in enqueue order with many in flight, whatever order the acks come back in', async () => {
    const { bus, publisher, metrics } = setup({ maxInFlight: 8 });
    bus.outcome = () => 'hold';
    for (let i = 0; i < 20; i++) publisher.enqueue(msg(i));
    expect(bus.sentIds()).toEqual(ids(0, 7));
    // Acks arrive newest first.
    while (bus.pending().length > 0) {
      for (const c of bus.pending().reverse()) c.succeed();
      await drain();
    }
    expect(bus.sentIds()).toEqual(ids(0, 19));
    expect(bus.stored).toEqual(ids(0, 19));
    expect(publisher.depth()).toBe(0);
    expect(await metric(metrics, 'sluice_ingest_messages_published_total')).toBe(20);
  });

  it('never has more than maxInFlight publishes awaiting an ack', async () => {
    const { bus, publisher, metrics } = setup({ maxInFlight: 3 });
    bus.outcome = () => 'hold';
    for (let i = 0; i < 10; i++) publisher.enqueue(msg(i));
    expect(bus.pending()).toHaveLength(3);
    expect(publisher.depth()).toBe(10);
    expect(await metric(metrics, 'sluice_ingest_in_flight')).toBe(3);
    expect(await metric(metrics, 'sluice_ingest_buffer_messages')).toBe(7);
    // One ack frees exactly one slot.
    bus.pending()[1]!.succeed();
    await drain();
    expect(bus.pending()).toHaveLength(3);
    expect(bus.calls).toHaveLength(4);
    while (bus.pending().length > 0) {
      bus.pending()[0]!.succeed();
      await drain();
    }
    expect(bus.maxPending).toBe(3);
    expect(bus.sentIds()).toEqual(ids(0, 9));
  });

  it('sends at once when the bus answers synchronously', async () => {
    const { bus, publisher } = setup({ maxInFlight: 2 });
    for (let i = 0; i < 5; i++) expect(publisher.enqueue(msg(i))).toBe(true);
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.stored).toEqual(ids(0, 4));
    expect(bus.maxPending).toBeLessThanOrEqual(2);
  });

  it('reports each outcome through done', async () => {
    const { bus, publisher } = setup();
    const outcomes: unknown[] = [];
    bus.outcome = (_m, i) => (i === 1 ? 'duplicate' : 'ok');
    for (let i = 0; i < 2; i++) publisher.enqueue({ ...msg(i), done: (o) => outcomes.push(o) });
    await publisher.flush(1000);
    expect(outcomes).toEqual([{ duplicate: false }, { duplicate: true }]);
  });
});

describe('publisher - failures are retried in order', () => {
  it('pauses after a failure until in-flight publishes settle, then retries the failed ones first', async () => {
    const { bus, publisher, metrics } = setup({ maxInFlight: 4 });
    bus.outcome = () => 'hold';
    for (let i = 0; i < 10; i++) publisher.enqueue(msg(i));
    const [c0, c1] = bus.pending();
    c0!.succeed();
    c1!.succeed();
    await drain();
    expect(bus.sentIds()).toEqual(ids(0, 5));

    // m2 fails while m3..m5 are in flight: nothing new is sent though slots are free.
    bus.pending()[0]!.fail();
    await drain();
    expect(bus.calls).toHaveLength(6);
    // The rest of the window fails too (a contiguous suffix); until the last one settles,
    // nothing is sent.
    bus.outcome = () => 'ok';
    const [c3, c4, c5] = bus.pending();
    c4!.fail();
    await drain();
    c3!.fail();
    await drain();
    expect(bus.calls).toHaveLength(6);
    c5!.fail();
    expect(await publisher.flush(1000)).toBe(true);
    // Retries first, with the same msg ids, in their original order; then the queue.
    expect(bus.sentIds().slice(6)).toEqual(ids(2, 9));
    expect(bus.stored).toEqual(ids(0, 9));
    expect(await metric(metrics, 'sluice_ingest_publish_errors_total', { kind: 'other' })).toBe(4);
    expect(await metric(metrics, 'sluice_ingest_messages_published_total')).toBe(10);
    expect(await metric(metrics, 'sluice_ingest_duplicates_total')).toBe(0);
  });

  it('a failed publish that did reach the stream is acknowledged as a duplicate on retry', async () => {
    const { bus, publisher, metrics } = setup({ maxInFlight: 2 });
    // m1 is stored, but its ack is lost (e.g. a timeout).
    bus.outcome = (m, i) => (m.msgId === 'm1' && i === 1 ? 'lost_ack' : 'ok');
    bus.kind = 'timeout';
    for (let i = 0; i < 4; i++) publisher.enqueue(msg(i));
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.stored).toEqual(ids(0, 3));
    expect(await metric(metrics, 'sluice_ingest_duplicates_total')).toBe(1);
    expect(await metric(metrics, 'sluice_ingest_messages_published_total')).toBe(3);
    expect(await metric(metrics, 'sluice_ingest_publish_errors_total', { kind: 'timeout' })).toBe(1);
  });

  it('stored order equals enqueue order when NATS goes away mid-window, again and again', async () => {
    // xorshift32, seeded: the same sequence every run.
    let seed = 0x9e3779b9;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    let totalOutages = 0;
    for (let round = 0; round < 60; round++) {
      const { bus, publisher } = setup({ maxInFlight: 1 + (round % 7) });
      bus.kind = 'disconnected';
      bus.outcome = () => 'hold';
      const n = 30;
      for (let i = 0; i < n; i++) publisher.enqueue(msg(i));
      let outages = 0;
      while (bus.stored.length < n) {
        const pending = bus.pending();
        expect(pending.length).toBeGreaterThan(0);
        // Acks come back from the front; now and then NATS goes away and everything from some
        // point of the window on fails (the failures are a contiguous suffix of what was sent).
        const cut = outages < 4 && random() < 0.3 ? Math.floor(random() * pending.length) : -1;
        if (cut >= 0) {
          outages++;
          bus.disconnect();
        }
        pending.forEach((c, i) => {
          if (cut >= 0 && i >= cut) c.fail();
          else c.succeed();
        });
        await drain();
        if (cut >= 0) {
          expect(bus.pending()).toHaveLength(0);
          bus.reconnect();
          await drain();
        }
      }
      expect(bus.stored).toEqual(ids(0, n - 1));
      totalOutages += outages;
      expect(await publisher.flush(1000)).toBe(true);
    }
    expect(totalOutages).toBeGreaterThan(60);
  });

  it('keeps order over thousands of messages with acks in any order and outages (window compaction)', async () => {
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const { bus, publisher } = setup({ maxInFlight: 64, bufferMessages: 10_000 });
    bus.kind = 'disconnected';
    bus.outcome = () => 'hold';
    const n = 5000;
    for (let i = 0; i < n; i++) publisher.enqueue(msg(i));
    let outages = 0;
    while (bus.stored.length < n) {
      const pending = bus.pending();
      expect(pending.length).toBeGreaterThan(0);
      expect(pending.length).toBeLessThanOrEqual(64);
      if (outages < 20 && bus.calls.length > 2500 && random() < 0.15) {
        // NATS goes away (only after the first 2,500, so the window has been compacted first):
        // what was sent from some point on fails, a suffix after the last acknowledged publish.
        outages++;
        bus.disconnect();
        let lastAcked = -1;
        bus.calls.forEach((c, i) => {
          if (c.state === 'stored' || c.state === 'duplicate') lastAcked = i;
        });
        const sentAt = (c: (typeof pending)[number]) => bus.calls.indexOf(c);
        const after = pending.filter((c) => sentAt(c) > lastAcked);
        const cut = after.length > 0 ? sentAt(after[Math.floor(random() * after.length)]!) : Infinity;
        for (const c of pending) {
          if (sentAt(c) >= cut) c.fail();
          else c.succeed();
        }
        await drain();
        bus.reconnect();
      } else {
        // Acks in any order; some stay pending for a few turns.
        for (const c of pending) if (random() < 0.6) c.succeed();
      }
      await drain();
    }
    expect(bus.stored).toEqual(ids(0, n - 1));
    expect(outages).toBeGreaterThan(5);
    expect(await publisher.flush(1000)).toBe(true);
  });

  it('a publish that keeps failing at once backs off instead of starving the event loop', async () => {
    const { bus, publisher, metrics } = setup();
    // e.g. a message the server now refuses every time; the connection itself looks fine.
    bus.outcome = (_m, i) => (i < 10_000 ? 'fail' : 'ok');
    publisher.enqueue(msg(0));
    await drain();
    // Before the fix this drain only returned after all 10,000 attempts, in microtasks.
    expect(bus.calls.length).toBeLessThan(5);
    expect(await metric(metrics, 'sluice_ingest_publish_errors_total', { kind: 'other' })).toBe(
      bus.calls.length,
    );
    publisher.close();
  });

  it('drops a message JetStream keeps rejecting, counts it, and delivers the ones behind it', async () => {
    vi.useFakeTimers();
    const { bus, publisher, metrics } = setup();
    bus.outcome = (m) => (m.msgId === 'm0' ? 'fail' : 'ok');
    publisher.enqueue(msg(0));
    publisher.enqueue(msg(1));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(bus.calls.filter((c) => c.msg.msgId === 'm0')).toHaveLength(5);
    expect(bus.calls.filter((c) => c.state === 'stored').map((c) => c.msg.msgId)).toEqual(['m1']);
    expect(await metric(metrics, 'sluice_ingest_dropped_total', { reason: 'rejected' })).toBe(1);
    expect(publisher.depth()).toBe(0);
    publisher.close();
  });

  it('a joining replica holds messages for joinDelayMs, then publishes them in order', async () => {
    vi.useFakeTimers();
    const { bus, publisher } = setup({ joinDelayMs: 2000 });
    for (let i = 0; i < 5; i++) publisher.enqueue(msg(i));
    await vi.advanceTimersByTimeAsync(1999);
    expect(bus.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(bus.calls.map((c) => c.msg.msgId)).toEqual(ids(0, 4));
    publisher.close();
  });

  it('backs off more while rounds keep failing, and starts over after a success', async () => {
    vi.useFakeTimers();
    const { bus, publisher } = setup();
    const fails = new Set([0, 1, 2, 3, 5, 6]);
    bus.outcome = (_m, i) => (fails.has(i) ? 'fail' : 'ok');
    publisher.enqueue(msg(0));
    await vi.advanceTimersByTimeAsync(0);
    // First retry at once; then 100 ms, then 200 ms.
    expect(bus.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(99);
    expect(bus.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(bus.calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(199);
    expect(bus.calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(bus.calls).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(400);
    expect(bus.calls).toHaveLength(5);
    expect(bus.stored).toEqual(['m0']);
    // After the success, the next failure is retried at once again.
    publisher.enqueue(msg(1));
    await vi.advanceTimersByTimeAsync(0);
    expect(bus.calls).toHaveLength(7);
    await vi.advanceTimersByTimeAsync(100);
    expect(bus.calls).toHaveLength(8);
    expect(bus.stored).toEqual(['m0', 'm1']);
  });

  it('re-creates the stream after no_stream, backing off while that fails', async () => {
    vi.useFakeTimers();
    const { bus, publisher } = setup();
    bus.kind = 'no_stream';
    bus.outcome = (_m, i) => (i === 0 ? 'fail' : 'ok');
    bus.ensureStreamFailures = 2;
    publisher.enqueue(msg(0));
    await vi.advanceTimersByTimeAsync(0);
    expect(bus.ensureStreamCalls).toBe(1);
    expect(bus.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(99);
    expect(bus.ensureStreamCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(bus.ensureStreamCalls).toBe(2);
    // Doubling: the next attempt comes 200 ms later.
    await vi.advanceTimersByTimeAsync(199);
    expect(bus.ensureStreamCalls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(bus.ensureStreamCalls).toBe(3);
    expect(bus.stored).toEqual(['m0']);
    expect(publisher.depth()).toBe(0);
  });

  it('does not re-create the stream after a disconnect', async () => {
    const { bus, publisher } = setup();
    bus.kind = 'disconnected';
    bus.outcome = (_m, i) => (i === 0 ? 'fail' : 'ok');
    publisher.enqueue(msg(0));
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.ensureStreamCalls).toBe(0);
    expect(bus.stored).toEqual(['m0']);
  });
});

describe('publisher - bounded buffer', () => {
  it('drops exactly enqueued − bufferMessages while the bus is disconnected, and counts them', async () => {
    const { bus, publisher, metrics } = setup({ bufferMessages: 5 });
    bus.disconnect();
    const accepted: boolean[] = [];
    const dropped: string[] = [];
    for (let i = 0; i < 12; i++)
      accepted.push(
        publisher.enqueue({
          ...msg(i),
          done: (o) => {
            if ('dropped' in o) dropped.push(`m${i}`);
          },
        }),
      );
    await drain();
    expect(bus.calls).toHaveLength(0);
    expect(accepted).toEqual([...Array(5).fill(true), ...Array(7).fill(false)]);
    expect(dropped).toEqual(ids(5, 11));
    expect(await metric(metrics, 'sluice_ingest_dropped_total', { reason: 'buffer_full' })).toBe(7);
    expect(await metric(metrics, 'sluice_ingest_buffer_messages')).toBe(5);
    expect(await metric(metrics, 'sluice_ingest_buffer_bytes')).toBe(50);
    expect(publisher.depth()).toBe(5);

    // The oldest messages are kept and go out once NATS is back.
    bus.reconnect();
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.stored).toEqual(ids(0, 4));
    expect(await metric(metrics, 'sluice_ingest_buffer_messages')).toBe(0);
    expect(await metric(metrics, 'sluice_ingest_buffer_bytes')).toBe(0);
  });

  it('bounds the buffer by bytes as well', async () => {
    const { bus, publisher, metrics } = setup({ bufferBytes: 100 });
    bus.disconnect();
    const accepted = [40, 40, 30, 20, 10].map((n, i) => publisher.enqueue(msg(i, n)));
    expect(accepted).toEqual([true, true, false, true, false]);
    expect(await metric(metrics, 'sluice_ingest_dropped_total', { reason: 'buffer_full' })).toBe(2);
    expect(await metric(metrics, 'sluice_ingest_buffer_bytes')).toBe(100);
  });

  it('failed messages put back count against the buffer', async () => {
    const { bus, publisher, metrics } = setup({ maxInFlight: 4, bufferMessages: 6 });
    bus.outcome = () => 'hold';
    for (let i = 0; i < 8; i++) publisher.enqueue(msg(i));
    expect(bus.pending()).toHaveLength(4);
    bus.disconnect();
    for (const c of bus.pending()) c.fail();
    await drain();
    // 4 back in the queue + 4 waiting = 8 > 6: the next message is dropped.
    expect(publisher.depth()).toBe(8);
    expect(publisher.enqueue(msg(8))).toBe(false);
    expect(await metric(metrics, 'sluice_ingest_dropped_total', { reason: 'buffer_full' })).toBe(1);
    bus.outcome = () => 'ok';
    bus.reconnect();
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.stored).toEqual(ids(0, 7));
  });
});

describe('publisher - duplicates, flush and resume', () => {
  it('counts duplicates separately from first-time publishes', async () => {
    const { bus, publisher, metrics } = setup();
    bus.outcome = (_m, i) => (i % 2 === 1 ? 'duplicate' : 'ok');
    for (let i = 0; i < 6; i++) publisher.enqueue(msg(i));
    expect(await publisher.flush(1000)).toBe(true);
    expect(await metric(metrics, 'sluice_ingest_duplicates_total')).toBe(3);
    expect(await metric(metrics, 'sluice_ingest_messages_published_total')).toBe(3);
  });

  it('the same msg id published twice is stored once', async () => {
    const { bus, publisher, metrics } = setup();
    publisher.enqueue(msg(1));
    publisher.enqueue(msg(1));
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.stored).toEqual(['m1']);
    expect(await metric(metrics, 'sluice_ingest_duplicates_total')).toBe(1);
  });

  it('flush resolves at once when idle', async () => {
    const { publisher } = setup();
    expect(await publisher.flush(0)).toBe(true);
  });

  it('flush resolves when the last in-flight publish is acknowledged', async () => {
    const { bus, publisher } = setup({ maxInFlight: 2 });
    bus.outcome = () => 'hold';
    for (let i = 0; i < 3; i++) publisher.enqueue(msg(i));
    let flushed: boolean | null = null;
    void publisher.flush(60_000).then((r) => {
      flushed = r;
    });
    while (bus.pending().length > 0) {
      expect(flushed).toBeNull();
      bus.pending()[0]!.succeed();
      await drain();
    }
    expect(flushed).toBe(true);
  });

  it('flush gives up after its timeout', async () => {
    vi.useFakeTimers();
    const { bus, publisher } = setup();
    bus.disconnect();
    publisher.enqueue(msg(0));
    const result = publisher.flush(5000);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await result).toBe(false);
    expect(publisher.depth()).toBe(1);
  });

  it('resumes in order after a reconnect, without re-creating the stream', async () => {
    const { bus, publisher } = setup({ maxInFlight: 2 });
    bus.disconnect();
    for (let i = 0; i < 5; i++) publisher.enqueue(msg(i));
    await drain();
    expect(bus.calls).toHaveLength(0);
    // Like main.ts: the bus reports the reconnect, then the owner calls resume().
    bus.reconnect();
    publisher.resume();
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.sentIds()).toEqual(ids(0, 4));
    expect(bus.ensureStreamCalls).toBe(0);
  });

  it('a disconnect noticed with publishes in flight waits for them, then resumes after reconnect', async () => {
    const { bus, publisher } = setup({ maxInFlight: 2 });
    bus.outcome = () => 'hold';
    for (let i = 0; i < 4; i++) publisher.enqueue(msg(i));
    bus.disconnect();
    bus.pending()[0]!.succeed();
    await drain();
    expect(bus.calls).toHaveLength(2);
    bus.pending()[0]!.succeed();
    await drain();
    expect(bus.calls).toHaveLength(2);
    bus.outcome = () => 'ok';
    bus.reconnect();
    expect(await publisher.flush(1000)).toBe(true);
    expect(bus.stored).toEqual(ids(0, 3));
  });

  it('keeps retrying while waiting for the connection fails', async () => {
    vi.useFakeTimers();
    const { bus, publisher } = setup();
    bus.disconnect();
    bus.waitConnectedFailures = 1;
    publisher.enqueue(msg(0));
    await vi.advanceTimersByTimeAsync(0);
    expect(bus.waitConnectedCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(bus.waitConnectedCalls).toBe(2);
    bus.reconnect();
    await vi.advanceTimersByTimeAsync(0);
    expect(bus.stored).toEqual(['m0']);
  });

  it('sends nothing more after close', async () => {
    const { bus, publisher } = setup();
    publisher.close();
    publisher.enqueue(msg(0));
    await drain();
    expect(bus.calls).toHaveLength(0);
  });
});
