import { decodeInterest } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import type { Subscription } from '../model.js';
import { memoryLogger, PREFIX } from '../testing.js';
import { MemoryBus } from './bus-memory.js';
import { Hub } from './hub.js';
import { InterestAnnouncer } from './interest.js';
import { SubjectRegistry } from './subject-registry.js';

function setup() {
  const bus = new MemoryBus();
  const { logger } = memoryLogger();
  const received: [string, string][] = [];
  const firstUses: string[] = [];
  let count = 0;
  let subscriptions = 0;
  const registry = new SubjectRegistry({
    bus,
    prefix: PREFIX,
    logger,
    onMessage: (channel, msg) => received.push([channel, Buffer.from(msg.data).toString()]),
    onFirstUse: (c) => firstUses.push(c),
    onCount: (channels, subs) => {
      count = channels;
      subscriptions = subs;
    },
  });
  return {
    bus,
    registry,
    hub: new Hub(registry),
    received,
    firstUses,
    count: () => count,
    subscriptions: () => subscriptions,
  };
}

const sub = (channels: string[], system = false) => ({ channels, system }) as unknown as Subscription;

describe('subscribe - one bus subscription per subject, refcounted', () => {
  it('subscribes on the first holder and unsubscribes after the last', () => {
    const { bus, hub, registry, count } = setup();
    const a = sub(['timeline:public:local']);
    const b = sub(['timeline:public:local']);
    const c = sub(['timeline:101', 'timeline:101:notifications']);
    hub.add(a);
    hub.add(b);
    hub.add(c);
    // A user's home and notifications share one `user.<id>.*` subscription.
    expect(bus.subscribeCalls).toBe(2);
    expect(bus.subjects().sort()).toEqual(['test.ev.public.local', 'test.ev.user.101.*']);
    expect(registry.refs('timeline:public:local')).toBe(1);
    expect(hub.recipients('timeline:public:local')).toEqual(new Set([a, b]));
    expect(count()).toBe(3);
    hub.remove(a);
    expect(bus.subjects()).toContain('test.ev.public.local');
    hub.remove(b);
    hub.remove(b);
    expect(bus.subjects()).not.toContain('test.ev.public.local');
    expect(hub.recipients('timeline:public:local')).toBeUndefined();
    hub.remove(c);
    expect(bus.subjects()).toEqual([]);
    expect(count()).toBe(0);
  });

  it('keeps a lone subscription without a set, through every change of holders', () => {
    const { bus, hub, registry } = setup();
    const [a, b, c] = [1, 2, 3].map(() => sub(['timeline:public']));
    hub.add(a!);
    expect(hub.recipients('timeline:public')).toEqual(new Set([a]));
    hub.add(a!);
    expect(hub.recipients('timeline:public')).toEqual(new Set([a]));
    hub.add(b!);
    expect(hub.recipients('timeline:public')).toEqual(new Set([a, b]));
    hub.remove(a!);
    expect(hub.recipients('timeline:public')).toEqual(new Set([b]));
    hub.remove(a!);
    hub.add(c!);
    expect(hub.recipients('timeline:public')).toEqual(new Set([b, c]));
    expect(registry.refs('timeline:public')).toBe(1);
    hub.remove(b!);
    hub.remove(c!);
    expect(hub.recipients('timeline:public')).toBeUndefined();
    expect(hub.channelCount).toBe(0);
    expect(bus.subjects()).toEqual([]);
    expect(bus.subscribeCalls).toBe(1);
  });

  it('holds every system channel through two wildcard subscriptions, routed by subject', () => {
    const { bus, hub, received, firstUses, count, subscriptions } = setup();
    const alice = sub(['timeline:access_token:11', 'timeline:system:101'], true);
    const bob = sub(['timeline:access_token:15', 'timeline:system:102'], true);
    hub.add(alice);
    hub.add(bob);
    hub.add(sub(['timeline:public']));
    expect(bus.subjects().sort()).toEqual(['test.ev.access_token.*', 'test.ev.public', 'test.ev.system.*']);
    expect(bus.subscribeCalls).toBe(3);
    expect([count(), subscriptions()]).toEqual([5, 3]);
    expect(firstUses).toEqual(['timeline:public']);
    bus.emit('test.ev.access_token.15', 'kill-bob');
    bus.emit('test.ev.access_token.99', 'kill-someone-elsewhere');
    bus.emit('test.ev.system.101', 'filters-alice');
    expect(received).toEqual([
      ['timeline:access_token:15', 'kill-bob'],
      ['timeline:system:101', 'filters-alice'],
    ]);
    hub.remove(alice);
    expect(bus.subjects()).toContain('test.ev.system.*');
    hub.remove(bob);
    expect(bus.subjects()).toEqual(['test.ev.public']);
    expect([count(), subscriptions()]).toEqual([1, 1]);
  });

  it("routes a user's shared subscription to the channels held, home and notifications apart", () => {
    const { bus, hub, received, count, subscriptions } = setup();
    const notificationsOnly = sub(['timeline:101:notifications']);
    hub.add(notificationsOnly);
    expect(bus.subjects()).toEqual(['test.ev.user.101.*']);
    bus.emit('test.ev.user.101.home', 'home-1');
    bus.emit('test.ev.user.101.notifications', 'note-1');
    bus.emit('test.ev.user.102.notifications', 'someone-else');
    const both = sub(['timeline:101', 'timeline:101:notifications']);
    hub.add(both);
    expect([count(), subscriptions()]).toEqual([2, 1]);
    bus.emit('test.ev.user.101.home', 'home-2');
    expect(received).toEqual([
      ['timeline:101:notifications', 'note-1'],
      ['timeline:101', 'home-2'],
    ]);
    hub.remove(notificationsOnly);
    hub.remove(both);
    expect(bus.subjects()).toEqual([]);
    expect([count(), subscriptions()]).toEqual([0, 0]);
  });

  it('routes bus messages to the channel', () => {
    const { bus, hub, received } = setup();
    hub.add(sub(['timeline:hashtag:café']));
    bus.emit('test.ev.hashtag.x-Y2Fmw6k', 'x');
    expect(received).toEqual([['timeline:hashtag:café', 'x']]);
  });

  it('restores per-channel order from Nats-Last-Sequence', async () => {
    const { bus, hub, received } = setup();
    hub.add(sub(['timeline:public']));
    const h = (seq: number, last: number) => ({
      'Nats-Sequence': String(seq),
      'Nats-Last-Sequence': String(last),
    });
    bus.emit('test.ev.public', 'a', h(10, 0));
    bus.emit('test.ev.public', 'c', h(14, 12));
    bus.emit('test.ev.public', 'b', h(12, 10));
    expect(received.map(([, d]) => d)).toEqual(['a', 'b', 'c']);
    // A predecessor that never comes: released after the hold.
    bus.emit('test.ev.public', 'e', h(20, 18));
    expect(received).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 150));
    expect(received.map(([, d]) => d)).toEqual(['a', 'b', 'c', 'e']);
  });

  it('reports first use of a channel for interest, never for system channels', () => {
    const { hub, firstUses } = setup();
    hub.add(sub(['timeline:access_token:11'], true));
    hub.add(sub(['timeline:system:101'], true));
    hub.add(sub(['timeline:101']));
    hub.add(sub(['timeline:101']));
    expect(firstUses).toEqual(['timeline:101']);
  });

  it('holds a channel too long for a subject without subscribing it', () => {
    const { bus, hub } = setup();
    hub.add(sub([`timeline:hashtag:${'ü'.repeat(3000)}`]));
    expect(bus.subscribeCalls).toBe(0);
  });
});

describe('subscribe - interest announcer', () => {
  it('coalesces first uses of one tick into one add, and snapshots every held channel', async () => {
    const published: ReturnType<typeof decodeInterest>[] = [];
    const held = ['timeline:101', 'timeline:public'];
    const { logger } = memoryLogger();
    const interest = new InterestAnnouncer({
      publish: (d) => published.push(decodeInterest(d)),
      gatewayId: 'g1',
      snapshotMs: 20,
      channels: () => held,
      logger,
    });
    interest.added('timeline:101');
    interest.added('timeline:public');
    expect(published).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(published).toEqual([
      { v: 1, op: 'add', gateway: 'g1', channels: ['timeline:101', 'timeline:public'] },
    ]);
    interest.start();
    await new Promise((r) => setTimeout(r, 50));
    interest.stop();
    const snaps = published.filter((m) => m.op === 'snapshot');
    expect(snaps.length).toBeGreaterThanOrEqual(1);
    expect(snaps[0]!.channels).toEqual(held);
  });
});
