/**
 * The interest path end to end (spec §7.3, DESIGN decision 9): Rails publishes personal timelines
 * only while `subscribed:<channel>` exists. A client subscribing at the gateway → the gateway
 * announces the channel on NATS → ingest SETs the key (TTL 1080 s) → Rails publishes → the event
 * comes back through ingest and NATS to the client.
 */
import { describe, expect, it } from 'vitest';
import { waitForKeyGone } from '../harness/redis.js';
import { pollUntil } from '../harness/wait.js';
import {
  conversationJson,
  notificationJson,
  SSE,
  startStack,
  statusJson,
  waitForSubscribed,
  wsHasId,
} from './support.js';

describe('gateway interest', () => {
  it('interest - subscribed: keys for home and notifications exist within 1 s of a WebSocket user subscription', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read' });
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const home = `timeline:${u.accountId}`;
    const notifications = `timeline:${u.accountId}:notifications`;
    expect(await s.redis.exists(`subscribed:${home}`, `subscribed:${notifications}`)).toBe(0);

    // Without interest Rails does not publish at all.
    const lost = statusJson(author);
    expect(await s.publish(home, 'update', lost)).toBe(false);

    const ws = await s.ws({ token: u.token });
    const started = Date.now();
    ws.subscribe('user');
    await waitForSubscribed(s, home, 3_000);
    await waitForSubscribed(s, notifications, 3_000);
    const elapsed = Date.now() - started;
    expect(elapsed, `subscribed: keys took ${elapsed} ms`).toBeLessThanOrEqual(1_000);
    for (const channel of [home, notifications]) {
      const ttl = await s.redis.ttl(`subscribed:${channel}`);
      expect(ttl, channel).toBeGreaterThan(1_000);
      expect(ttl, channel).toBeLessThanOrEqual(1_080);
      expect(await s.redis.get(`subscribed:${channel}`)).toBe('1');
    }

    await s.ready(ws, home);
    const st = statusJson(author);
    const n = notificationJson(author, statusJson(author));
    expect(await s.publish(home, 'update', st)).toBe(true);
    expect(await s.publish(notifications, 'notification', n)).toBe(true);
    expect((await ws.waitForEvent(wsHasId(st.id, 'update'))).stream).toEqual(['user']);
    expect((await ws.waitForEvent(wsHasId(n.id, 'notification'))).stream).toEqual(['user']);
    expect(ws.events(wsHasId(lost.id))).toEqual([]);
  });

  it('interest - SSE user/notification, list and direct streams set their keys; events then flow', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read' });
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const listId = await s.fx.createList(u.accountId);
    const notifications = `timeline:${u.accountId}:notifications`;
    const list = `timeline:list:${listId}`;
    const direct = `timeline:direct:${u.accountId}`;

    const started = Date.now();
    const cn = await s.sse({ path: `${SSE}/user/notification`, token: u.token });
    const cl = await s.sse({ path: `${SSE}/list`, query: { list: listId }, token: u.token });
    const cd = await s.sse({ path: `${SSE}/direct`, token: u.token });
    for (const ch of [notifications, list, direct]) await waitForSubscribed(s, ch, 3_000);
    expect(Date.now() - started).toBeLessThanOrEqual(1_500);
    // user/notification does not subscribe the home timeline.
    expect(await s.redis.exists(`subscribed:timeline:${u.accountId}`)).toBe(0);

    const n = notificationJson(author);
    const st = statusJson(author);
    const conv = conversationJson(author, statusJson(author));
    // Keep publishing like Rails until the subscription is live, then the real events.
    await s.ready(cn, notifications);
    await s.ready(cl, list);
    await s.ready(cd, direct);
    expect(await s.publish(notifications, 'notification', n)).toBe(true);
    expect(await s.publish(list, 'update', st)).toBe(true);
    expect(await s.publish(direct, 'conversation', conv)).toBe(true);
    await cn.waitForEvent((e) => e.event === 'notification' && e.data === JSON.stringify(n));
    await cl.waitForEvent((e) => e.event === 'update' && e.data === JSON.stringify(st));
    await cd.waitForEvent((e) => e.event === 'conversation' && e.data === JSON.stringify(conv));
  });

  it("interest - a second gateway's subscriber for the same channel keeps working when the first leaves", async () => {
    const s = await startStack({ gateways: 2 });
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const home = `timeline:${u.accountId}`;
    const a = await s.ws({ token: u.token, port: s.gateways[0]!.port });
    const b = await s.ws({ token: u.token, port: s.gateways[1]!.port });
    a.subscribe('user');
    b.subscribe('user');
    await s.ready(a, home);
    await s.ready(b, home);
    await a.close();
    const st = statusJson(author);
    expect(await s.publish(home, 'update', st)).toBe(true);
    await b.waitForEvent(wsHasId(st.id));
  });

  it('interest - keys are refreshed while a subscriber stays and expire once it left (short TTLs)', async () => {
    const timing = {
      SLUICE_SUBSCRIBED_TTL_SECONDS: '2',
      SLUICE_SUBSCRIBED_REFRESH_SECONDS: '0.5',
      SLUICE_INTEREST_SNAPSHOT_SECONDS: '0.3',
      SLUICE_INTEREST_EXPIRY_SECONDS: '1',
    };
    const s = await startStack({ gatewayEnv: timing, ingestEnv: timing });
    const u = await s.fx.createUser();
    const key = `subscribed:timeline:${u.accountId}`;
    const ws = await s.ws({ token: u.token });
    ws.subscribe('user');
    await waitForSubscribed(s, `timeline:${u.accountId}`, 3_000);
    const ttl = await s.redis.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2_000);
    // Refreshed twice: each time the remaining TTL jumps back up; the key never lapses meanwhile.
    for (let i = 0; i < 2; i++) {
      let low = await s.redis.pttl(key);
      await pollUntil(
        `${key} to be refreshed`,
        async () => {
          const now = await s.redis.pttl(key);
          expect(now, `${key} lapsed while subscribed`).toBeGreaterThan(0);
          if (now > low + 100) return true;
          low = Math.min(low, now);
          return false;
        },
        { timeoutMs: 3_000, intervalMs: 20 },
      );
    }
    await ws.close();
    const gone = await waitForKeyGone(s.redis, key, 8_000);
    expect(gone).toBeLessThanOrEqual(8_000);
  });
});
