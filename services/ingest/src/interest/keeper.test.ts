import { createLogger, type InterestConfig, type InterestMessage } from '@sluice/shared';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createIngestMetrics, type IngestMetrics } from '../metrics.js';
import { InterestKeeper } from './keeper.js';
import { MemoryKeyStore } from './key-store.js';

const log = createLogger({ name: 'test', level: 'fatal', destination: { write() {} } });

// Mastodon's numbers (spec §7.3): TTL 1080 s, refresh 360 s; gateways re-announce every 60 s.
const CFG: InterestConfig = {
  subscribedTtlMs: 1_080_000,
  subscribedRefreshMs: 360_000,
  snapshotMs: 60_000,
  expiryMs: 180_000,
};

/** A store that records what it set and can be told to fail. */
class FlakyKeyStore extends MemoryKeyStore {
  failing = false;
  override async setAll(keys: string[], ttlMs: number): Promise<void> {
    if (this.failing) throw new Error('READONLY You can not write against a read only replica');
    await super.setAll(keys, ttlMs);
  }
  keys(): string[] {
    return this.sets.map((s) => s.key);
  }
  clear(): void {
    this.sets.length = 0;
  }
}

const add = (...channels: string[]): InterestMessage => ({ v: 1, op: 'add', gateway: 'gw-1', channels });
const snapshot = (...channels: string[]): InterestMessage => ({
  v: 1,
  op: 'snapshot',
  gateway: 'gw-1',
  channels,
});

function setup(opts: { namespace?: string; start?: number; cfg?: Partial<InterestConfig> } = {}) {
  let t = opts.start ?? 1_700_000_000_000;
  const clock = {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
  const store = new FlakyKeyStore();
  const metrics = createIngestMetrics();
  const keeper = new InterestKeeper(store, { ...CFG, ...opts.cfg }, opts.namespace, metrics, log, clock.now);
  return { keeper, store, metrics, clock };
}

async function metric(metrics: IngestMetrics, name: string, labels: Record<string, string> = {}) {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const { values } = await m.get();
  const v = values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('interest keeper - add', () => {
  it('sets subscribed:<channel> at once with the configured TTL', async () => {
    const { keeper, store, metrics } = setup();
    await keeper.handle(add('timeline:1', 'timeline:1:notifications'));
    expect(store.sets.map(({ key, ttlMs }) => ({ key, ttlMs }))).toEqual([
      { key: 'subscribed:timeline:1', ttlMs: 1_080_000 },
      { key: 'subscribed:timeline:1:notifications', ttlMs: 1_080_000 },
    ]);
    expect(keeper.size()).toBe(2);
    expect(await metric(metrics, 'sluice_ingest_subscribed_keys_set_total')).toBe(2);
    expect(await metric(metrics, 'sluice_ingest_interest_messages_total', { op: 'add' })).toBe(1);
    expect(await metric(metrics, 'sluice_ingest_interest_channels')).toBe(2);
  });

  it('puts the Redis namespace in front when one is configured', async () => {
    const { keeper, store } = setup({ namespace: 'mastodon' });
    await keeper.handle(add('timeline:direct:5'));
    expect(store.keys()).toEqual(['mastodon:subscribed:timeline:direct:5']);
  });

  it('an empty namespace means no prefix', async () => {
    const { keeper, store } = setup({ namespace: '' });
    await keeper.handle(add('timeline:5'));
    expect(store.keys()).toEqual(['subscribed:timeline:5']);
  });

  it('every add sets again, like every new Mastodon subscription', async () => {
    const { keeper, store, clock } = setup();
    await keeper.handle(add('timeline:1'));
    clock.advance(1000);
    await keeper.handle(add('timeline:1'));
    expect(store.keys()).toEqual(['subscribed:timeline:1', 'subscribed:timeline:1']);
    expect(keeper.size()).toBe(1);
  });
});

describe('interest keeper - refresh', () => {
  it('snapshots within the refresh period do not set again', async () => {
    const { keeper, store, clock, metrics } = setup();
    await keeper.handle(add('timeline:1'));
    store.clear();
    for (let i = 0; i < 5; i++) {
      clock.advance(CFG.snapshotMs);
      await keeper.handle(snapshot('timeline:1'));
      await keeper.sweep();
    }
    // 300 s < 360 s.
    expect(store.sets).toEqual([]);
    expect(await metric(metrics, 'sluice_ingest_interest_messages_total', { op: 'snapshot' })).toBe(5);
  });

  it('a snapshot after the refresh period sets again', async () => {
    const { keeper, store, clock } = setup();
    await keeper.handle(add('timeline:1'));
    store.clear();
    clock.advance(CFG.subscribedRefreshMs);
    await keeper.handle(snapshot('timeline:1'));
    expect(store.keys()).toEqual(['subscribed:timeline:1']);
  });

  it('a sweep after the refresh period sets every due channel again, once', async () => {
    const { keeper, store, clock } = setup({ cfg: { expiryMs: 400_000 } });
    await keeper.handle(add('timeline:1', 'timeline:2'));
    clock.advance(100_000);
    await keeper.handle(add('timeline:3'));
    store.clear();
    clock.advance(CFG.subscribedRefreshMs - 100_000 - 1);
    await keeper.sweep();
    expect(store.sets).toEqual([]);
    clock.advance(1);
    await keeper.sweep();
    expect(store.keys()).toEqual(['subscribed:timeline:1', 'subscribed:timeline:2']);
    await keeper.sweep();
    expect(store.keys()).toHaveLength(2);
    clock.advance(100_000);
    await keeper.sweep();
    expect(store.keys()).toEqual(['subscribed:timeline:1', 'subscribed:timeline:2', 'subscribed:timeline:3']);
  });

  it('keeps a channel alive as long as snapshots keep announcing it', async () => {
    const { keeper, store, clock } = setup();
    await keeper.handle(add('timeline:1'));
    store.clear();
    // An hour of snapshots every minute and sweeps in between.
    for (let minute = 1; minute <= 60; minute++) {
      clock.advance(30_000);
      await keeper.sweep();
      clock.advance(30_000);
      await keeper.handle(snapshot('timeline:1'));
    }
    // Re-set every 360 s: 10 times in 3600 s, each well inside the 1080 s TTL.
    expect(store.sets).toHaveLength(10);
    expect(keeper.size()).toBe(1);
  });

  it('a channel first seen in a snapshot is set at once, whatever the clock origin', async () => {
    // e.g. a monotonic clock that starts near zero, or ingest restarted while gateways kept
    // their subscriptions.
    const { keeper, store } = setup({ start: 1000 });
    await keeper.handle(snapshot('timeline:7'));
    expect(store.keys()).toEqual(['subscribed:timeline:7']);
  });
});

describe('interest keeper - expiry', () => {
  it('forgets a channel nobody announced for expiryMs and stops setting it', async () => {
    const { keeper, store, clock, metrics } = setup();
    await keeper.handle(add('timeline:1', 'timeline:2'));
    store.clear();
    clock.advance(CFG.expiryMs - 60_000);
    await keeper.handle(snapshot('timeline:2'));
    clock.advance(60_000);
    await keeper.sweep();
    // Exactly expiryMs is not yet past it.
    expect(keeper.size()).toBe(2);
    clock.advance(1);
    await keeper.sweep();
    expect(keeper.size()).toBe(1);
    expect(await metric(metrics, 'sluice_ingest_interest_channels')).toBe(1);
    // Long after: timeline:2 (still announced) is refreshed, timeline:1 never again.
    for (let i = 0; i < 10; i++) {
      clock.advance(CFG.snapshotMs);
      await keeper.handle(snapshot('timeline:2'));
      await keeper.sweep();
    }
    expect(store.keys().length).toBeGreaterThan(0);
    expect(store.keys().every((k) => k === 'subscribed:timeline:2')).toBe(true);
  });

  it('a forgotten channel announced again is set at once', async () => {
    const { keeper, store, clock } = setup();
    await keeper.handle(add('timeline:1'));
    clock.advance(CFG.expiryMs + 1);
    await keeper.sweep();
    expect(keeper.size()).toBe(0);
    store.clear();
    await keeper.handle(snapshot('timeline:1'));
    expect(store.keys()).toEqual(['subscribed:timeline:1']);
  });
});

describe('interest keeper - resetAll and failures', () => {
  it('resetAll sets every live channel again, due or not', async () => {
    const { keeper, store, clock } = setup({ namespace: 'ns' });
    await keeper.handle(add('timeline:1', 'timeline:2'));
    clock.advance(1000);
    store.clear();
    await keeper.resetAll();
    expect(store.keys()).toEqual(['ns:subscribed:timeline:1', 'ns:subscribed:timeline:2']);
    // And the refresh period starts over from the reset.
    store.clear();
    clock.advance(CFG.subscribedRefreshMs - 1);
    await keeper.handle(snapshot('timeline:1', 'timeline:2'));
    expect(store.sets).toEqual([]);
  });

  it('resetAll with no channels writes nothing', async () => {
    const { keeper, store } = setup();
    await keeper.resetAll();
    expect(store.sets).toEqual([]);
  });

  it('a failing store leaves channels due, and a later sweep retries', async () => {
    const { keeper, store, clock, metrics } = setup();
    store.failing = true;
    await expect(keeper.handle(add('timeline:1'))).resolves.toBeUndefined();
    expect(store.sets).toEqual([]);
    expect(await metric(metrics, 'sluice_ingest_subscribed_keys_set_total')).toBe(0);
    clock.advance(1000);
    await keeper.sweep();
    expect(store.sets).toEqual([]);
    store.failing = false;
    clock.advance(1000);
    await keeper.sweep();
    expect(store.keys()).toEqual(['subscribed:timeline:1']);
    expect(await metric(metrics, 'sluice_ingest_subscribed_keys_set_total')).toBe(1);
    // Now set: not due again until the refresh period has passed.
    await keeper.sweep();
    expect(store.keys()).toHaveLength(1);
  });

  it('a failing refresh stays due and the next sweep retries', async () => {
    const { keeper, store, clock } = setup({ cfg: { expiryMs: 1_000_000 } });
    await keeper.handle(add('timeline:1'));
    store.clear();
    clock.advance(CFG.subscribedRefreshMs);
    store.failing = true;
    await keeper.sweep();
    store.failing = false;
    clock.advance(1000);
    await keeper.sweep();
    expect(store.keys()).toEqual(['subscribed:timeline:1']);
  });

  it('a failing resetAll is retried by the next sweep only when due', async () => {
    const { keeper, store, clock } = setup({ cfg: { expiryMs: 1_000_000 } });
    await keeper.handle(add('timeline:1'));
    store.clear();
    store.failing = true;
    await expect(keeper.resetAll()).resolves.toBeUndefined();
    store.failing = false;
    await keeper.sweep();
    expect(store.sets).toEqual([]);
    clock.advance(CFG.subscribedRefreshMs);
    await keeper.sweep();
    expect(store.keys()).toEqual(['subscribed:timeline:1']);
  });
});

describe('interest keeper - timer', () => {
  it('start sweeps periodically and stop ends it', async () => {
    vi.useFakeTimers();
    const { keeper, store, clock } = setup({ cfg: { expiryMs: 1_000_000 } });
    await keeper.handle(add('timeline:1'));
    store.clear();
    keeper.start();
    clock.advance(CFG.subscribedRefreshMs);
    // Sweeps run every min(refresh, expiry) / 4 = 90 s.
    await vi.advanceTimersByTimeAsync(89_999);
    expect(store.sets).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.keys()).toEqual(['subscribed:timeline:1']);
    keeper.stop();
    clock.advance(CFG.subscribedRefreshMs);
    await vi.advanceTimersByTimeAsync(10 * 90_000);
    expect(store.keys()).toHaveLength(1);
  });
});
