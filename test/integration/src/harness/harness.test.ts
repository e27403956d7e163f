/** The harness itself, against the real servers (no Sluice service needed). */
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { allSubjects, channelToSubject } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import {
  collect,
  connectNats,
  delay,
  deleteStream,
  header,
  onCleanup,
  parseMetrics,
  pgQuery,
  railsPublish,
  readStream,
  redisClient,
  snowflake,
  streamInfo,
  streamManager,
  subscribedKeysFor,
  testScope,
  text,
  waitForKey,
  waitForKeyGone,
} from './index.js';

describe('harness', () => {
  it('parses Prometheus text', () => {
    const m = parseMetrics(
      [
        '# HELP a_total help',
        '# TYPE a_total counter',
        'a_total{reason="x"} 2',
        'a_total{reason="y",other="q\\"z"} 3',
        '# TYPE b gauge',
        'b 1.5',
        '# TYPE h histogram',
        'h_bucket{le="+Inf"} 4',
        'h_count 4',
        '# TYPE empty_total counter',
      ].join('\n'),
    );
    expect(m.value('a_total')).toBe(5);
    expect(m.value('a_total', { reason: 'y' })).toBe(3);
    expect(m.value('a_total', { other: 'q"z' })).toBe(3);
    expect(m.value('b')).toBe(1.5);
    expect(m.value('h_count')).toBe(4);
    expect(m.value('empty_total')).toBe(0);
    expect(() => m.value('missing_total')).toThrow(/not exported/);
  });

  it('publishes like Rails: personal channels only while subscribed:, with the namespace', async () => {
    const redis = redisClient();
    const sub = redisClient();
    const ns = `ns${snowflake()}`;
    const got: [string, string][] = [];
    sub.on('pmessage', (_p: string, ch: string, msg: string) => got.push([ch, msg]));
    await sub.psubscribe(`${ns}:timeline:*`, 'timeline:*');
    const user = snowflake();
    onCleanup(async () => void (await redis.del(`${ns}:subscribed:timeline:${user}`)));

    expect(subscribedKeysFor(`timeline:${user}:notifications`)).toEqual([
      `subscribed:timeline:${user}`,
      `subscribed:timeline:${user}:notifications`,
    ]);
    expect(subscribedKeysFor('timeline:public')).toBeNull();
    expect(await railsPublish(redis, `timeline:${user}`, 'update', '{"id":"1"}', { namespace: ns })).toBe(
      false,
    );
    await redis.set(`${ns}:subscribed:timeline:${user}`, '1', 'EX', 5);
    expect(await railsPublish(redis, `timeline:${user}`, 'update', '{"id":"1"}', { namespace: ns })).toBe(
      true,
    );
    expect(
      await railsPublish(redis, `timeline:${user}:notifications`, 'notification', '{"id":"2"}', {
        namespace: ns,
      }),
    ).toBe(true);
    expect(
      await railsPublish(redis, `timeline:system:${user}`, 'filters_changed', undefined, { namespace: ns }),
    ).toBe(true);
    // PUBLISH returns after Redis queued the message to the subscriber; the subscriber's PING reply
    // comes after those messages on its connection, so by then it has handled them all.
    await sub.ping();
    expect(got).toEqual([
      [`${ns}:timeline:${user}`, '{"event":"update","payload":"{\\"id\\":\\"1\\"}"}'],
      [`${ns}:timeline:${user}:notifications`, '{"event":"notification","payload":"{\\"id\\":\\"2\\"}"}'],
      [`${ns}:timeline:system:${user}`, '{"event":"filters_changed"}'],
    ]);
  });

  it('waits for Redis keys to appear and to expire', async () => {
    const redis = redisClient();
    const key = `sluice-harness-${snowflake()}`;
    onCleanup(async () => void (await redis.del(key)));
    const setLater = delay(100).then(() => redis.set(key, '1', 'PX', 300));
    const appeared = await waitForKey(redis, key, 2000);
    await setLater;
    expect(appeared).toBeGreaterThanOrEqual(90);
    const gone = await waitForKeyGone(redis, key, 2000);
    expect(gone).toBeGreaterThan(100);
    await expect(waitForKey(redis, key, 100)).rejects.toThrow(/timed out/);
  });

  it('collects republished stream messages and reads the stream back', async () => {
    const scope = testScope();
    const nc = await connectNats();
    const jsm = await streamManager(nc);
    await jsm.streams.add({
      name: scope.stream,
      subjects: [allSubjects(scope.prefix, 'in')],
      storage: 'memory' as never,
      max_msgs: 1000,
      republish: { src: allSubjects(scope.prefix, 'in'), dest: allSubjects(scope.prefix, 'ev') },
    });
    const col = await collect(nc, `${scope.prefix}.ev.>`);
    const js = jetstream(nc);
    const channels = ['timeline:public', 'timeline:hashtag:café', `timeline:${snowflake()}`];
    for (let i = 0; i < 30; i++) {
      const h = headers();
      h.set('Sluice-Event', 'update');
      await js.publish(channelToSubject(scope.prefix, 'in', channels[i % 3]!), `m${i}`, {
        headers: h,
        msgID: `id${i}`,
      });
    }
    await js.publish(channelToSubject(scope.prefix, 'in', channels[0]!), 'm0', { msgID: 'id0' }); // a duplicate
    await col.waitFor(30, 5000);
    expect(col.messages.map(text)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    expect(header(col.messages[0]!, 'sluice-event')).toBe('update');
    expect(col.messages.map((m) => Number(header(m, 'Nats-Sequence')))).toEqual(
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    await expect(col.waitFor(31, 200)).rejects.toThrow(/timed out/);

    const stored = await readStream(nc, scope.stream);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(stored.map(text)).toEqual(col.messages.map(text));
    expect(stored[1]!.subject).toBe(channelToSubject(scope.prefix, 'in', channels[1]!));
    expect((await streamInfo(nc, scope.stream))?.state.messages).toBe(30);
    expect(await deleteStream(nc, scope.stream)).toBe(true);
    expect(await streamInfo(nc, scope.stream)).toBeNull();
    expect(await deleteStream(nc, scope.stream)).toBe(false);
  });

  it('reaches the Mastodon-shaped database', async () => {
    const r = await pgQuery<{ n: string }>(
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'oauth_access_tokens'`,
    );
    expect(r.rows[0]?.n).toBe('1');
  });
});
