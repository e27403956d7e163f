import http from 'node:http';
import { channelToSubject } from '@sluice/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../metrics.js';
import { memoryLogger, PREFIX, startTestGateway, type TestGateway } from '../testing.js';
import { MemoryBus, MemoryHeaders } from './bus-memory.js';
import { GapRepair } from './gap-repair.js';
import type { GapReader, GapScan } from './replay.js';
import { MemoryReplay } from './replay-memory.js';
import { SubjectRegistry } from './subject-registry.js';

const A = 'timeline:public';
const B = 'timeline:hashtag:cats';
const C = 'timeline:101';

function setup(opts: { maxEvents?: number; stepTimeoutMs?: number } = {}) {
  const bus = new MemoryBus();
  const replay = new MemoryReplay();
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const { logger, lines } = memoryLogger();
  /** What reached the pipeline: `<channel>#<seq>:<text>`. */
  const got: string[] = [];
  const reorderGaps: string[] = [];
  const registry = new SubjectRegistry({
    bus,
    prefix: PREFIX,
    logger,
    onMessage: (channel, msg) =>
      got.push(`${channel}#${msg.headers?.get('Nats-Sequence')}:${Buffer.from(msg.data).toString()}`),
    onGap: (channel) => reorderGaps.push(channel),
  });
  const repair = new GapRepair({
    registry,
    source: replay,
    bus,
    metrics,
    logger,
    maxEvents: opts.maxEvents ?? 1000,
    ...(opts.stepTimeoutMs ? { stepTimeoutMs: opts.stepTimeoutMs } : {}),
  });
  bus.onDisconnect(() => repair.disconnected());
  /** Stores an event as the conduit and replay stream would; `live` also delivers it on the bus. */
  const publish = (channel: string, text: string, live = true) => {
    const e = replay.append(channel, text, new MemoryHeaders({ 'Sluice-Event': 'update' }));
    if (live) emit(channel, e.seq);
    return e.seq;
  };
  /** Delivers a stored event (again) on the bus, as RePublish did. */
  const stored = new Map<number, { channel: string; data: Uint8Array; headers: MemoryHeaders }>();
  const rawAppend = replay.append.bind(replay);
  replay.append = (channel, data, headers) => {
    const e = rawAppend(channel, data, headers);
    stored.set(e.seq, { channel, data: e.data, headers: e.headers as MemoryHeaders });
    return e;
  };
  const emit = (channel: string, seq: number) => {
    const e = stored.get(seq)!;
    bus.emit(channelToSubject(PREFIX, 'ev', channel), e.data, e.headers);
  };
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
    return m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
  };
  const reconnect = () => {
    bus.connected = true;
    return repair.reconnected();
  };
  return { bus, replay, registry, repair, got, lines, reorderGaps, publish, emit, metric, reconnect };
}

/** Wraps the replay so that each step of a repair's scan waits until the test lets it through. */
/** A and B held; a1 and b2 delivered live; then the connection drops and a3, b4 are only stored. */
function gapOnTwoChannels(s: ReturnType<typeof setup>): void {
  s.registry.acquire(A);
  s.registry.acquire(B);
  s.publish(A, 'a1');
  s.publish(B, 'b2');
  s.bus.disconnect();
  s.publish(A, 'a3', false);
  s.publish(B, 'b4', false);
}

function gatedScan(replay: MemoryReplay) {
  const waiting: (() => void)[] = [];
  /** Every step that waited, let through or not. */
  const all: (() => void)[] = [];
  let notify: (() => void)[] = [];
  let opened = false;
  const original = replay.gapReader.bind(replay);
  replay.gapReader = async (floor) => {
    const reader = await original(floor);
    return {
      first: reader.first,
      last: reader.last,
      scan: (limit, wanted) => {
        const scan = reader.scan(limit, wanted);
        return {
          get complete() {
            return scan.complete;
          },
          get scanned() {
            return scan.scanned;
          },
          close: () => scan.close(),
          next: async () => {
            if (!opened)
              await new Promise<void>((go) => {
                waiting.push(go);
                all.push(go);
                for (const n of notify) n();
                notify = [];
              });
            return scan.next();
          },
        } satisfies GapScan;
      },
    } satisfies GapReader;
  };
  return {
    /** Resolves once a scan step waits (the oldest first); call the result to let it through. */
    async step(): Promise<() => void> {
      while (waiting.length === 0) await new Promise<void>((r) => notify.push(r));
      return waiting.shift()!;
    },
    /** Lets every waiting (even one handed out by `step`) and future step through. */
    open(): void {
      opened = true;
      waiting.length = 0;
      for (const go of all) go();
    },
  };
}

describe('subscribe - gap repair after a NATS disconnect', () => {
  it('delivers the missed events, then the live ones, each once and in order', async () => {
    const s = setup();
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.publish(A, 'a2');
    s.bus.disconnect();
    s.publish(A, 'a3', false);
    s.publish(A, 'a4', false);
    const s5 = s.publish(A, 'a5', false);
    const gate = gatedScan(s.replay);
    const done = s.reconnect();
    await gate.step();
    // While the repair scans: a live copy of a missed event (RePublish reached us after the
    // re-subscribe) and a newer live event, stored after the scan's end. Both wait.
    s.emit(A, s5);
    s.publish(A, 'a6');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#2:a2`]);
    gate.open();
    expect(await done).toBe('complete');
    // A late live copy of a repaired event is skipped too; what follows flows.
    s.emit(A, s5);
    s.publish(A, 'a7');
    expect(s.got).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => `${A}#${n}:a${n}`));
    expect(await s.metric('sluice_gateway_gap_repairs_total')).toBe(1);
    // 3, 4 and 5 (its live copy was the duplicate); 6 came live.
    expect(await s.metric('sluice_gateway_gap_repaired_events_total')).toBe(3);
    expect(await s.metric('sluice_gateway_gap_repairs_incomplete_total', { reason: 'limit' })).toBe(0);
    expect(s.reorderGaps).toEqual([]);
  });

  it('repairs each channel from its own position; a channel acquired during the outage is live only', async () => {
    const s = setup();
    s.registry.acquire(A);
    s.registry.acquire(B);
    s.publish(A, 'a1'); // 1
    s.publish(B, 'b2'); // 2
    s.publish(A, 'a3'); // 3
    s.bus.disconnect();
    s.publish(B, 'b4', false);
    s.publish(C, 'c5', false); // before C was held: never due
    s.registry.acquire(C);
    s.publish(A, 'a6', false);
    s.publish(C, 'c7', false); // published while C was held, but C has no position: lost
    expect(await s.reconnect()).toBe('complete');
    s.publish(C, 'c8');
    expect(s.got.filter((g) => g.startsWith(`${A}#`))).toEqual([`${A}#1:a1`, `${A}#3:a3`, `${A}#6:a6`]);
    expect(s.got.filter((g) => g.startsWith(`${B}#`))).toEqual([`${B}#2:b2`, `${B}#4:b4`]);
    expect(s.got.filter((g) => g.startsWith(`${C}#`))).toEqual([`${C}#8:c8`]);
    expect(await s.metric('sluice_gateway_gap_repaired_events_total')).toBe(2);
  });

  it('a channel that had received nothing starts from the newest event the pod received after it was acquired', async () => {
    const s = setup();
    s.publish(A, 'a1', false); // before anything was held
    s.registry.acquire(A);
    s.registry.acquire(B);
    s.publish(B, 'b2');
    s.bus.disconnect();
    s.publish(A, 'a3', false);
    expect(await s.reconnect()).toBe('complete');
    expect(s.got).toEqual([`${B}#2:b2`, `${A}#3:a3`]);

    // A pod that received nothing since a channel was acquired knows no position for it.
    const t = setup();
    t.registry.acquire(A);
    t.publish(A, 'a1');
    t.registry.acquire(B);
    t.bus.disconnect();
    t.publish(B, 'b2', false);
    expect(await t.reconnect()).toBe('complete');
    expect(t.got).toEqual([`${A}#1:a1`]);
  });

  it('a channel released during the repair gets nothing; acquired again, it is live only', async () => {
    const s = setup();
    gapOnTwoChannels(s);
    const gate = gatedScan(s.replay);
    const done = s.reconnect();
    await gate.step();
    s.registry.release(A);
    s.registry.acquire(A);
    s.publish(A, 'a5');
    gate.open();
    expect(await done).toBe('complete');
    expect(s.got).toEqual([`${A}#1:a1`, `${B}#2:b2`, `${A}#5:a5`, `${B}#4:b4`]);
    s.registry.release(A);
    s.registry.release(B);
    expect(s.registry.size).toBe(0);
    expect(s.bus.subjects()).toEqual([]);
  });

  it('a disconnect during a repair supersedes it; the next one delivers both gaps once', async () => {
    const s = setup();
    s.replay.scanBatch = 1;
    gapOnTwoChannels(s);
    const gate = gatedScan(s.replay);
    const first = s.reconnect();
    (await gate.step())(); // the first repair has read a stretch of the stream
    const goFirst = await gate.step();
    s.publish(B, 'b5'); // arrives live while B waits
    s.bus.disconnect();
    s.publish(A, 'a6', false);
    s.publish(B, 'b7', false);
    expect(s.got).toEqual([`${A}#1:a1`, `${B}#2:b2`]);
    const second = s.reconnect();
    const goSecond = await gate.step();
    goFirst(); // the first repair's step returns: ignored
    expect(await first).toBe('superseded');
    goSecond();
    gate.open();
    expect(await second).toBe('complete');
    expect(s.got.filter((g) => g.startsWith(`${A}#`))).toEqual([`${A}#1:a1`, `${A}#3:a3`, `${A}#6:a6`]);
    expect(s.got.filter((g) => g.startsWith(`${B}#`))).toEqual([
      `${B}#2:b2`,
      `${B}#4:b4`,
      `${B}#5:b5`,
      `${B}#7:b7`,
    ]);
    expect(await s.metric('sluice_gateway_gap_repairs_total')).toBe(2);
    // 3 and 6 on A; 4, 5 and 7 on B (5's queued live copy skipped).
    expect(await s.metric('sluice_gateway_gap_repaired_events_total')).toBe(5);
    expect(s.reorderGaps).toEqual([]);
  });

  it('stops at the event limit, counts and logs it, and goes on live without waiting', async () => {
    const s = setup({ maxEvents: 2 });
    s.replay.gapMargin = 0; // the scan starts right after the floor: 2 and 3 are scanned
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.bus.disconnect();
    for (let i = 2; i <= 5; i++) s.publish(A, `a${i}`, false);
    const gate = gatedScan(s.replay);
    const done = s.reconnect();
    await gate.step();
    s.publish(A, 'a6');
    gate.open();
    expect(await done).toBe('limit');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#2:a2`, `${A}#3:a3`, `${A}#6:a6`]);
    expect(s.reorderGaps).toEqual([]);
    expect(await s.metric('sluice_gateway_gap_repairs_incomplete_total', { reason: 'limit' })).toBe(1);
    expect(await s.metric('sluice_gateway_gap_repaired_events_total')).toBe(2);
    expect(s.lines.some((l) => l['level'] === 'warn' && l['reason'] === 'limit')).toBe(true);
  });

  it('counts events evicted from the replay buffer, per channel and before the oldest stored event', async () => {
    const s = setup();
    s.replay.perChannelCap = 2;
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.bus.disconnect();
    for (let i = 2; i <= 5; i++) s.publish(A, `a${i}`, false);
    expect(await s.reconnect()).toBe('evicted');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#4:a4`, `${A}#5:a5`]);
    expect(await s.metric('sluice_gateway_gap_repairs_incomplete_total', { reason: 'evicted' })).toBe(1);

    // The whole gap aged out: nothing to read, and the buffer starts after it.
    const t = setup();
    t.registry.acquire(A);
    t.publish(A, 'a1');
    t.bus.disconnect();
    t.publish(A, 'a2', false);
    t.publish(B, 'b3', false);
    t.replay.trimBefore(4);
    expect(await t.reconnect()).toBe('evicted');
    expect(t.got).toEqual([`${A}#1:a1`]);
  });

  it('counts a stream recreated during the outage as evicted and goes on live', async () => {
    const s = setup();
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.publish(A, 'a2');
    s.publish(A, 'a3');
    s.bus.disconnect();
    // NATS lost the stream: ingest made a new one, whose sequences start again at 1.
    const fresh = new MemoryReplay();
    s.replay.gapReader = (floor) => fresh.gapReader(floor);
    fresh.append(A, 'new1', new MemoryHeaders({ 'Sluice-Event': 'update' }));
    const done = s.reconnect();
    s.bus.emit(
      channelToSubject(PREFIX, 'ev', A),
      'new2',
      new MemoryHeaders({ 'Sluice-Event': 'update', 'Nats-Sequence': '2', 'Nats-Last-Sequence': '1' }),
    );
    expect(await done).toBe('evicted');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#2:a2`, `${A}#3:a3`, `${A}#2:new2`]);
    expect(s.reorderGaps).toEqual([]);
    expect(s.lines.some((l) => l['recreated'] === true)).toBe(true);
  });

  it('goes on live when the replay source fails, and never throws', async () => {
    const s = setup();
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.bus.disconnect();
    s.publish(A, 'a2', false);
    s.replay.fail = new Error('JetStream unavailable');
    const done = s.reconnect();
    s.publish(A, 'a3'); // waits until the repair gives up
    expect(await done).toBe('error');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#3:a3`]);
    expect(s.reorderGaps).toEqual([]);
    expect(await s.metric('sluice_gateway_gap_repairs_incomplete_total', { reason: 'error' })).toBe(1);
    s.publish(A, 'a4');
    expect(s.got.at(-1)).toBe(`${A}#4:a4`);
  });

  it('takes over a message the reorderer held for a predecessor lost in the outage', async () => {
    const s = setup();
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.publish(A, 'a2', false); // republished out of order: would have come next
    s.publish(A, 'a3'); // held, waiting for 2
    expect(s.got).toEqual([`${A}#1:a1`]);
    s.bus.disconnect();
    expect(await s.reconnect()).toBe('complete');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#2:a2`, `${A}#3:a3`]);
    expect(s.reorderGaps).toEqual([]);
  });

  it('scans the replay stream once, however many channels are held', async () => {
    const steps: Record<number, { scans: number; steps: number; reads: number }> = {};
    for (const held of [10, 1000]) {
      const s = setup();
      const channels = Array.from({ length: held }, (_, i) => `timeline:hashtag:t${i}`);
      for (const c of channels) {
        s.registry.acquire(c);
        s.publish(c, `${c}-live`); // every channel has a position
      }
      s.bus.disconnect();
      const missed = [3, 1, 4, 1, 5].map((i, n) => ({
        channel: channels[i]!,
        seq: s.publish(channels[i]!, `m${n}`, false),
      }));
      s.publish('timeline:hashtag:unheld', 'nobody holds it', false);
      const before = s.got.length;
      expect(await s.reconnect()).toBe('complete');
      // Each channel's in order; channels one after the other.
      expect(s.got.slice(before).sort()).toEqual(missed.map((m, n) => `${m.channel}#${m.seq}:m${n}`).sort());
      expect(await s.metric('sluice_gateway_gap_repaired_events_total')).toBe(5);
      steps[held] = { scans: s.replay.scans, steps: s.replay.scanSteps, reads: s.replay.reads };
    }
    expect(steps[1000]).toEqual({ scans: 1, steps: 2, reads: 0 });
    expect(steps[10]).toEqual(steps[1000]);
  });

  it('a scan that fails midway delivers what it read, counts an error, and goes on live', async () => {
    const s = setup();
    s.replay.scanBatch = 1;
    s.replay.gapMargin = 0;
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.bus.disconnect();
    s.publish(A, 'a2', false);
    s.publish(A, 'a3', false);
    const gate = gatedScan(s.replay);
    const done = s.reconnect();
    (await gate.step())(); // reads 2
    const go = await gate.step();
    s.replay.fail = new Error('JetStream unavailable');
    s.publish(A, 'a4'); // waits until the repair gives up
    go();
    expect(await done).toBe('error');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#2:a2`, `${A}#4:a4`]);
    expect(s.reorderGaps).toEqual([]);
    expect(await s.metric('sluice_gateway_gap_repairs_incomplete_total', { reason: 'error' })).toBe(1);
    expect(await s.metric('sluice_gateway_gap_repaired_events_total')).toBe(1);
  });

  it('gives up on a scan step that takes longer than the step timeout', async () => {
    const s = setup({ stepTimeoutMs: 20 });
    s.registry.acquire(A);
    s.publish(A, 'a1');
    s.bus.disconnect();
    s.publish(A, 'a2', false);
    gatedScan(s.replay); // never let through
    const done = s.reconnect();
    s.publish(A, 'a3');
    expect(await done).toBe('error');
    expect(s.got).toEqual([`${A}#1:a1`, `${A}#3:a3`]);
    expect(s.lines.some((l) => l['level'] === 'warn' && l['reason'] === 'error')).toBe(true);
  });

  it('does nothing when no channel has a position', async () => {
    const s = setup();
    s.registry.acquire(A);
    s.bus.disconnect();
    expect(await s.reconnect()).toBe('nothing');
    expect(await s.metric('sluice_gateway_gap_repairs_total')).toBe(0);
    s.publish(A, 'a1');
    expect(s.got).toEqual([`${A}#1:a1`]);
  });
});

describe('gateway - gap repair wiring', () => {
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
  });

  /** An SSE client whose `until` resolves when the body matches (or rejects after `ms`). */
  function sse(port: number, path: string) {
    let body = '';
    const waiters: { re: RegExp; resolve: () => void }[] = [];
    const req = http.get({ host: '127.0.0.1', port, path }, (res) => {
      res.on('data', (d: Buffer) => {
        body += d.toString();
        for (const w of [...waiters]) if (w.re.test(body)) w.resolve();
      });
    });
    req.on('error', () => {});
    return {
      get body() {
        return body;
      },
      until(re: RegExp, ms = 5000): Promise<void> {
        if (re.test(body)) return Promise.resolve();
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out; body: ${body}`)), ms);
          waiters.push({
            re,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          });
        });
      },
    };
  }

  const status = (id: number) => JSON.stringify({ id: String(id), content: `s${id}` });

  it('an SSE client receives the events published while NATS was away, with their ids', async () => {
    gw = await startTestGateway();
    const client = sse(gw.port, '/api/v1/streaming/public?access_token=tok-read');
    await client.until(/:\)/);
    gw.publish(A, 'update', status(1));
    await client.until(/id: 1\n/);
    gw.bus.disconnect();
    gw.replay.append(A, status(2), new MemoryHeaders({ 'Sluice-Event': 'update' }));
    gw.replay.append(A, status(3), new MemoryHeaders({ 'Sluice-Event': 'update' }));
    gw.bus.reconnect();
    gw.publish(A, 'update', status(4));
    await client.until(/id: 4\n/);
    const ids = [...client.body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([1, 2, 3, 4]);
  });

  it('SLUICE_GAP_REPAIR_MAX_EVENTS=0 turns it off', async () => {
    gw = await startTestGateway({ config: { gapRepairMaxEvents: 0 } });
    expect(gw.gateway.gapRepair).toBeUndefined();
  });
});
