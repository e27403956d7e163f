import { channelToSubject } from '@sluice/shared';
import { describe, expect, it, vi } from 'vitest';
import type { EventFilter, FilterRequest } from './filter/index.js';
import type { AuthContext, ResolvedStream, StreamOptions } from './model.js';
import { MemoryHeaders } from './subscribe/index.js';
import { auth, PREFIX, pipelineHarness } from './testing.js';
import { type Connection, MemorySink } from './write/index.js';

const PLAIN: StreamOptions = {
  needsFiltering: false,
  filterLocal: false,
  filterRemote: false,
  allowLocalOnly: true,
};

function setup(extra: EventFilter[] = []) {
  const { bus, metrics, connections, subscriber, pipeline } = pipelineHarness({ filters: extra });
  const open = (type: 'websocket' | 'eventsource', who: Partial<AuthContext> = {}) => {
    const sink = new MemorySink(type);
    const conn = connections.create(sink, auth(who), 'r');
    connections.add(conn);
    subscriber.openSystem(conn);
    return { conn, sink };
  };
  const attach = (
    conn: Connection,
    name: string,
    channels: string[],
    label: unknown[] = [name],
    options = PLAIN,
  ) => {
    const r: ResolvedStream = { name, channels, options, labelJson: JSON.stringify(label) };
    return subscriber.attach(conn, r);
  };
  let seq = 0;
  const emit = (channel: string, event: string, payload: string, headers: Record<string, string> = {}) =>
    bus.emit(
      channelToSubject(PREFIX, 'ev', channel),
      payload,
      new MemoryHeaders({ 'Sluice-Event': event, 'Nats-Sequence': String(++seq), ...headers }),
    );
  return { bus, metrics, connections, open, attach, emit, pipeline };
}

const parsed = (s: MemorySink) => s.frames.map((f) => JSON.parse(f));

describe('pipeline - delivery', () => {
  it('writes one frame per subscription, labelled as subscribed, payload as a string', () => {
    const { open, attach, emit } = setup();
    const { conn, sink } = open('websocket');
    attach(conn, 'user', ['timeline:101', 'timeline:101:notifications'], ['user']);
    attach(conn, 'user:notification', ['timeline:101:notifications']);
    attach(conn, 'hashtag', ['timeline:hashtag:foo'], ['hashtag', '#Foo']);
    emit('timeline:101:notifications', 'notification', '{"id":"1"}');
    emit('timeline:hashtag:foo', 'delete', '99');
    expect(parsed(sink)).toEqual([
      { stream: ['user'], event: 'notification', payload: '{"id":"1"}' },
      { stream: ['user:notification'], event: 'notification', payload: '{"id":"1"}' },
      { stream: ['hashtag', '#Foo'], event: 'delete', payload: '99' },
    ]);
  });

  it('writes SSE frames with the stream sequence as id', () => {
    const { open, attach, emit } = setup();
    const { conn, sink } = open('eventsource');
    attach(conn, 'public:local', ['timeline:public:local']);
    emit('timeline:public:local', 'update', '{"id":"1"}');
    expect(sink.frames).toEqual(['id: 1\nevent: update\ndata: {"id":"1"}\n\n']);
  });

  it('shares one encoded buffer among all recipients of a label', () => {
    const { open, attach, emit } = setup();
    const sinks = Array.from({ length: 100 }, () => {
      const { conn, sink } = open('websocket');
      attach(conn, 'public:local', ['timeline:public:local']);
      return sink;
    });
    const frames: Buffer[] = [];
    for (const s of sinks) s.write = (f: Buffer) => void frames.push(f);
    emit('timeline:public:local', 'update', '{"id":"1"}');
    expect(frames).toHaveLength(100);
    expect(new Set(frames).size).toBe(1);
  });

  it('drops payload-less events on stream subscriptions', async () => {
    const { open, attach, emit, metrics } = setup();
    const { conn, sink } = open('websocket');
    attach(conn, 'user', ['timeline:101'], ['user']);
    emit('timeline:101', 'filters_changed', '');
    expect(sink.frames).toEqual([]);
    const m = (await metrics.registry.getMetricsAsJSON()).find(
      (x) => x.name === 'sluice_gateway_events_dropped_total',
    );
    expect(m!.values.find((v) => v.labels['reason'] === 'no_payload')!.value).toBe(1);
  });
});

describe('pipeline - system channels', () => {
  it('kill closes every connection of the token, and only those', () => {
    const { open, emit, connections } = setup();
    const a = open('websocket', { accessTokenId: '11' });
    const b = open('eventsource', { accessTokenId: '11' });
    const other = open('websocket', { accessTokenId: '12' });
    emit('timeline:access_token:11', 'kill', '');
    expect(a.sink.ended).toBe('kill');
    expect(b.sink.ended).toBe('kill');
    expect(other.sink.ended).toBeNull();
    expect(connections.size).toBe(1);
  });

  it('kill on the account channel closes all of its connections', () => {
    const { open, emit } = setup();
    const a = open('websocket', { accessTokenId: '11', accountId: '7' });
    const b = open('websocket', { accessTokenId: '12', accountId: '7' });
    emit('timeline:system:7', 'kill', '');
    expect([a.sink.ended, b.sink.ended]).toEqual(['kill', 'kill']);
  });

  it('filters_changed reaches the filter stage once per account', () => {
    const changed: string[] = [];
    const { open, emit } = setup([
      {
        apply: (r: FilterRequest) => ({ deliver: r.recipients, dropped: 0 }),
        filtersChanged: (id) => changed.push(id),
      },
    ]);
    const a = open('websocket', { accessTokenId: '11', accountId: '7' });
    open('websocket', { accessTokenId: '12', accountId: '7' });
    emit('timeline:system:7', 'filters_changed', '');
    expect(changed).toEqual(['7']);
    expect(a.sink.frames).toEqual([]);
  });
});

describe('pipeline - filter seam', () => {
  it('calls the filter once per event with every recipient and writes variants', () => {
    const calls: number[] = [];
    const { open, attach, emit } = setup([
      {
        apply({ recipients }) {
          calls.push(recipients.size);
          const [first] = recipients;
          return {
            deliver: recipients,
            dropped: 0,
            variants: new Map([[first!, Buffer.from('{"filtered":[1]}')]]),
          };
        },
      },
    ]);
    const opts = { ...PLAIN, needsFiltering: true };
    const x = open('websocket');
    const y = open('websocket');
    attach(x.conn, 'public', ['timeline:public'], ['public'], opts);
    attach(y.conn, 'public', ['timeline:public'], ['public'], opts);
    emit('timeline:public', 'update', '{}', { 'Sluice-Local': '1' });
    expect(calls).toEqual([2]);
    expect(parsed(x.sink)[0].payload).toBe('{"filtered":[1]}');
    expect(parsed(y.sink)[0].payload).toBe('{}');
  });

  it('keeps each channel in order when a filter answers asynchronously, without holding up other channels', async () => {
    let delay = 20;
    const { open, attach, emit } = setup([
      {
        async apply(r) {
          const d = delay;
          delay = 0;
          await new Promise((res) => setTimeout(res, d));
          return { deliver: r.recipients, dropped: 0 };
        },
      },
    ]);
    const { conn, sink } = open('eventsource');
    attach(conn, 'public', ['timeline:public'], ['public'], { ...PLAIN, needsFiltering: true });
    attach(conn, 'user', ['timeline:101'], ['user']);
    emit('timeline:public', 'update', '{"n":1}');
    emit('timeline:101', 'update', '{"n":2}');
    emit('timeline:public', 'update', '{"n":3}');
    // The home event does not wait for the public channel's slow filter; public keeps its order.
    await vi.waitFor(() => expect(sink.frames).toHaveLength(3), { timeout: 2000, interval: 5 });
    expect(sink.frames.map((f) => f.split('data: ')[1]!.trim())).toEqual(['{"n":2}', '{"n":1}', '{"n":3}']);
  });
});
