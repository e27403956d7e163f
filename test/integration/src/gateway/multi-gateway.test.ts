/**
 * Two gateway processes behind no balancer (issue 3, Done when): clients on both receive every
 * event exactly once, and a kill reaches the connections on both.
 */
import { describe, expect, it } from 'vitest';
import type { SseClient, WsClient } from '../harness/clients.js';
import {
  isProbeSse,
  isProbeWs,
  railsKill,
  SSE,
  sseHasId,
  startStack,
  statusJson,
  suffix,
  wsHasId,
} from './support.js';

describe('gateway - two processes', () => {
  it('two gateways - WebSocket and SSE clients on both receive every event exactly once', async () => {
    const s = await startStack({ gateways: 2 });
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount({ domain: 'remote.example' });
    const x = suffix();
    const home = `timeline:${u.accountId}`;
    const tag = `timeline:hashtag:${x}`;
    const ws: WsClient[] = [];
    const sseTag: SseClient[] = [];
    const sseHome: SseClient[] = [];
    for (const g of s.gateways) {
      for (let i = 0; i < 2; i++) {
        const c = await s.ws({ port: g.port, token: u.token });
        c.subscribe('user');
        c.subscribe('hashtag', { tag: x });
        c.subscribe('public:remote');
        ws.push(c);
      }
      sseTag.push(await s.sse({ port: g.port, path: `${SSE}/hashtag`, query: { tag: x }, token: u.token }));
      sseHome.push(await s.sse({ port: g.port, path: `${SSE}/user`, token: u.token }));
    }
    for (const c of ws) {
      await s.ready(c, home);
      await s.ready(c, tag);
      await s.ready(c, 'timeline:public:remote');
    }
    for (const c of sseTag) await s.ready(c, tag);
    for (const c of sseHome) await s.ready(c, home);

    const homeIds: string[] = [];
    const tagIds: string[] = [];
    const pubIds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const h = statusJson(author);
      const t = statusJson(author, { tags: [x] });
      const p = statusJson(author);
      homeIds.push(h.id);
      tagIds.push(t.id);
      pubIds.push(p.id);
      expect(await s.publish(home, 'update', h)).toBe(true);
      await s.publish(tag, 'update', t);
      await s.publish('timeline:public:remote', 'update', p);
    }
    const last = (ids: string[]) => ids[ids.length - 1]!;
    for (const c of ws) {
      await c.waitForEvent(wsHasId(last(homeIds)), 10_000, 'the last home status');
      await c.waitForEvent(wsHasId(last(tagIds)), 10_000, 'the last hashtag status');
      await c.waitForEvent(wsHasId(last(pubIds)), 10_000, 'the last public status');
    }
    for (const c of sseTag) await c.waitForEvent(sseHasId(last(tagIds)), 10_000);
    for (const c of sseHome) await c.waitForEvent(sseHasId(last(homeIds)), 10_000);
    // Markers after everything: duplicates, had there been any, would have arrived before them.
    const marker = `m${x}`;
    await s.publish(home, 'delete', marker);
    await s.publish(tag, 'delete', marker);
    await s.publish('timeline:public:remote', 'delete', marker);
    for (const c of ws) await c.waitForEvents((e) => e.payload === marker, 3, 5_000, 'the three markers');
    for (const c of [...sseTag, ...sseHome]) await c.waitForEvent((e) => e.data === marker);

    for (const [i, c] of ws.entries()) {
      const got = c
        .events((e) => e.event === 'update' && !isProbeWs(e))
        .map((e) => JSON.parse(e.payload as string).id as string);
      const what = `WebSocket ${i} on gateway ${i < 2 ? 'A' : 'B'}`;
      expect(
        got.filter((id) => homeIds.includes(id)),
        what,
      ).toEqual(homeIds);
      expect(
        got.filter((id) => tagIds.includes(id)),
        what,
      ).toEqual(tagIds);
      expect(
        got.filter((id) => pubIds.includes(id)),
        what,
      ).toEqual(pubIds);
      const mine = new Set([...homeIds, ...tagIds, ...pubIds]);
      expect(
        got.filter((id) => mine.has(id)),
        what,
      ).toHaveLength(60);
    }
    for (const [i, c] of sseTag.entries()) {
      const got = c.events.items
        .filter((e) => e.event === 'update' && !isProbeSse(e))
        .map((e) => JSON.parse(e.data).id);
      expect(got, `SSE hashtag on gateway ${i}`).toEqual(tagIds);
    }
    for (const [i, c] of sseHome.entries()) {
      const got = c.events.items
        .filter((e) => e.event === 'update' && !isProbeSse(e))
        .map((e) => JSON.parse(e.data).id);
      expect(got, `SSE home on gateway ${i}`).toEqual(homeIds);
    }
  });

  it('two gateways - a kill for a token and for an account reaches connections on both', async () => {
    const s = await startStack({ gateways: 2 });
    const u = await s.fx.createUser();
    const v = await s.fx.createUser();
    const open = async (token: string) => {
      const out: { ws: WsClient; sse: SseClient }[] = [];
      for (const g of s.gateways) {
        const ws = await s.ws({ port: g.port, token });
        ws.subscribe('public:local');
        const sse = await s.sse({ port: g.port, path: `${SSE}/public/local`, token });
        await s.ready(ws, 'timeline:public:local');
        await s.ready(sse, 'timeline:public:local');
        out.push({ ws, sse });
      }
      return out;
    };
    const byToken = await open(u.token);
    const byAccount = await open(v.token);

    await s.fx.revokeToken(u.tokenId);
    await railsKill(s, `timeline:access_token:${u.tokenId}`);
    for (const [i, c] of byToken.entries()) {
      expect((await c.ws.waitForClose(5_000)).code, `WebSocket on gateway ${i}`).toBe(1005);
      expect((await c.sse.waitForEnd(5_000)).how, `SSE on gateway ${i}`).toBe('complete');
    }
    for (const c of byAccount) expect(c.ws.isOpen).toBe(true);

    await s.fx.setSuspended(v.accountId, true);
    await railsKill(s, `timeline:system:${v.accountId}`);
    for (const [i, c] of byAccount.entries()) {
      expect((await c.ws.waitForClose(5_000)).code, `WebSocket on gateway ${i}`).toBe(1005);
      expect((await c.sse.waitForEnd(5_000)).how, `SSE on gateway ${i}`).toBe('complete');
    }
  });
});
