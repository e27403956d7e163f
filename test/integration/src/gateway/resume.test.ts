/**
 * SSE resume (issue 3, Done when): every SSE event carries `id:` = the JetStream sequence; a client
 * that was away for about 2 s while 100 events flowed reconnects with `Last-Event-ID` and ends with
 * all 100, in order, without duplicates — replay from the stream, then live, with no gap at the
 * hand-over.
 */
import { describe, expect, it } from 'vitest';
import { Recorder, type SseClient } from '../harness/clients.js';
import { delay } from '../harness/wait.js';
import { isProbeSse, SSE, startStack, statusJson, suffix, waitForMetric } from './support.js';

describe('gateway SSE resume', () => {
  it('SSE resume - away ~2 s while 100 events flow, Last-Event-ID brings back all 100 in order, no duplicates', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const x = suffix();
    const channel = `timeline:hashtag:${x}`;
    const path = `${SSE}/hashtag`;
    const first = await s.sse({ path, query: { tag: x }, token: u.token });
    await s.ready(first, channel);

    const statuses = Array.from({ length: 100 }, () => statusJson(author, { tags: [x] }));
    const ids = statuses.map((st) => st.id);
    const published = new Recorder<number>(String);
    // The publisher paces itself (a load shape, not synchronisation): 100 events over ~2.5 s.
    const publisher = (async () => {
      for (let i = 0; i < statuses.length; i++) {
        await s.publish(channel, 'update', statuses[i]);
        published.push(i + 1);
        await delay(25);
      }
    })();

    const updates = (c: SseClient) => c.events.items.filter((e) => e.event === 'update' && !isProbeSse(e));
    await first.waitForEvent(
      (e) => e.event === 'update' && JSON.parse(e.data).id === ids[9],
      10_000,
      'the 10th event',
    );
    first.close();
    const leftAt = Date.now();
    const lastEventId = first.lastEventId;
    expect(lastEventId).toMatch(/^\d+$/);

    // Come back while events are still flowing, after ~80 were published in our absence.
    await published.waitFor((n) => n >= 90, 10_000, 'the 90th publish');
    const away = Date.now() - leftAt;
    const second = await s.sse({ path, query: { tag: x }, token: u.token, lastEventId: lastEventId! });
    expect(second.status).toBe(200);
    await publisher;
    await second.waitForEvent(
      (e) => e.event === 'update' && JSON.parse(e.data).id === ids[99],
      10_000,
      'the 100th event',
    );

    const got = [...updates(first), ...updates(second)];
    const gotIds = got.map((e) => JSON.parse(e.data).id as string);
    expect(gotIds.filter((id) => !ids.includes(id))).toEqual([]);
    expect(
      gotIds,
      `away ${away} ms; first had ${updates(first).length}, second ${updates(second).length}`,
    ).toEqual(ids);
    // The ids (stream sequences) increase strictly across both connections.
    const seqs = got.map((e) => Number(e.id));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    expect(away).toBeGreaterThanOrEqual(1_500);
    expect(updates(second).length).toBeGreaterThanOrEqual(75);
    // Counted as a replayed resume, with the events it replayed.
    await waitForMetric(s.gateway, 'sluice_gateway_replay_total', { result: 'replayed' }, (v) => v === 1);
    expect(await s.gateway.metric('sluice_gateway_sse_replayed_events_total')).toBeGreaterThanOrEqual(50);
  });

  it('SSE resume - a replay larger than the send buffer is paced, not cut off as a slow client', async () => {
    const s = await startStack({ gatewayEnv: { SLUICE_SEND_BUFFER_BYTES: '16384' } });
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const x = suffix();
    const channel = `timeline:hashtag:${x}`;
    const path = `${SSE}/hashtag`;
    const observer = await s.sse({ path, query: { tag: x }, token: u.token });
    const leaving = await s.sse({ path, query: { tag: x }, token: u.token });
    await s.ready(observer, channel);
    await s.ready(leaving, channel);
    const lastEventId = leaving.lastEventId!;
    leaving.close();

    // ~60 KB missed while away (the buffer holds 16 KiB), published at a pace a live client takes.
    const statuses = Array.from({ length: 50 }, () => statusJson(author, { tags: [x] }));
    for (const st of statuses) {
      await s.publish(channel, 'update', st);
      await delay(5);
    }
    const ids = statuses.map((st) => st.id);
    await observer.waitForEvent(
      (e) => e.event === 'update' && JSON.parse(e.data).id === ids[49],
      10_000,
      'the last event (observer)',
    );
    expect(await s.gateway.metric('sluice_gateway_slow_client_disconnects_total')).toBe(0);

    const back = await s.sse({ path, query: { tag: x }, token: u.token, lastEventId });
    expect(back.status).toBe(200);
    await back
      .waitForEvent(
        (e) => e.event === 'update' && JSON.parse(e.data).id === ids[49],
        10_000,
        'the last missed event',
      )
      .catch(async (err: Error) => {
        const slow = await s.gateway.metric('sluice_gateway_slow_client_disconnects_total');
        throw new Error(
          `resuming client got ${back.events.items.length} of ${ids.length} missed events, ` +
            `slow-client disconnects: ${slow} (replay of ~60 KB into a 16 KiB send buffer) — ${err.message}`,
        );
      });
    const got = back.events.items
      .filter((e) => e.event === 'update')
      .map((e) => JSON.parse(e.data).id as string);
    expect(got).toEqual(ids);
    expect(back.ended).toBeNull();
    expect(await s.gateway.metric('sluice_gateway_slow_client_disconnects_total')).toBe(0);
  });

  it('SSE resume - a malformed or unknown Last-Event-ID resumes live', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const clients: SseClient[] = [];
    for (const lastEventId of ['abc', '999999999999', '']) {
      const c = await s.sse({ path: `${SSE}/public/local`, token: u.token, lastEventId });
      expect(c.status, `Last-Event-ID ${JSON.stringify(lastEventId)}`).toBe(200);
      await s.ready(c, 'timeline:public:local');
      clients.push(c);
    }
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    for (const c of clients) await c.waitForEvent((e) => e.event === 'update' && e.data.includes(st.id));
  });
});
