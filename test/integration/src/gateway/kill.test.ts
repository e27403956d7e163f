/**
 * Revocation (spec §5.7): Rails publishes `{"event":"kill"}` on `timeline:access_token:<id>` when a
 * token is revoked and on `timeline:system:<accountId>` when a user is disabled or an account is
 * suspended. SSE responses end (cleanly), WebSockets get an empty close frame (1005 as `ws` and
 * browsers report it); the credentials are refused afterwards.
 */
import { describe, expect, it } from 'vitest';
import { WsClient } from '../harness/clients.js';
import { railsMessage } from '../harness/redis.js';
import { railsKill, SSE, type Stack, startStack, statusJson, waitForMetric, wsHasId } from './support.js';

async function openBoth(s: Stack, token: string) {
  const ws = await s.ws({ token });
  ws.subscribe('public:local');
  ws.subscribe('user');
  const sse = await s.sse({ path: `${SSE}/public/local`, token });
  expect(sse.status).toBe(200);
  await s.ready(ws, 'timeline:public:local');
  await s.ready(sse, 'timeline:public:local');
  return { ws, sse };
}

async function expectKilled(c: Awaited<ReturnType<typeof openBoth>>, what: string) {
  const close = await c.ws.waitForClose(5_000).catch((err: Error) => {
    throw new Error(`${what}: the WebSocket was not closed by the kill — ${err.message}`);
  });
  expect(close.code, `${what}: WebSocket close code (empty close frame = 1005)`).toBe(1005);
  expect(close.reason, what).toBe('');
  const end = await c.sse.waitForEnd(5_000).catch((err: Error) => {
    throw new Error(`${what}: the SSE response was not ended by the kill — ${err.message}`);
  });
  expect(end.how, `${what}: SSE response ended with the terminating chunk`).toBe('complete');
}

async function expectRefused(s: Stack, token: string, what: string) {
  const r = await WsClient.attempt({ port: s.port, token });
  expect(r.ok, what).toBe(false);
  if (!r.ok) expect(r.status, what).toBe(401);
  const sse = await s.sse({ path: `${SSE}/public/local`, token });
  expect(sse.status, what).toBe(401);
}

describe('gateway kill', () => {
  it("token revocation: kill on timeline:access_token:<id> closes that token's connections only", async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const second = await s.fx.createToken(u.userId, { scopes: 'read' });
    const author = await s.fx.createAccount();
    const killed = await openBoth(s, u.token);
    const survivor = await openBoth(s, second.token);

    await s.fx.revokeToken(u.tokenId);
    await railsKill(s, `timeline:access_token:${u.tokenId}`);
    await expectKilled(killed, 'revoked token');

    // The other token of the same account keeps streaming.
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    await survivor.ws.waitForEvent(wsHasId(st.id));
    await survivor.sse.waitForEvent((e) => e.data.includes(st.id));
    expect(survivor.ws.isOpen).toBe(true);
    expect(survivor.sse.ended).toBeNull();
    await expectRefused(s, u.token, 'revoked token reconnecting');
  });

  it('user disable: kill on timeline:system:<accountId> closes every connection of the account', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const second = await s.fx.createToken(u.userId);
    const bystander = await s.fx.createUser();
    const a = await openBoth(s, u.token);
    const b = await openBoth(s, second.token);
    const other = await openBoth(s, bystander.token);

    await s.fx.setDisabled(u.userId, true);
    await railsKill(s, `timeline:system:${u.accountId}`);
    await expectKilled(a, 'first token of the disabled user');
    await expectKilled(b, 'second token of the disabled user');
    await s.ready(other.ws, 'timeline:public:local');
    expect(other.sse.ended).toBeNull();
    await expectRefused(s, u.token, 'disabled user reconnecting');
  });

  it('account suspension: kill on timeline:system:<accountId> closes the connections; the token is refused', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const c = await openBoth(s, u.token);
    await s.fx.setSuspended(u.accountId, true);
    await railsKill(s, `timeline:system:${u.accountId}`);
    await expectKilled(c, 'suspended account');
    await expectRefused(s, u.token, 'suspended account reconnecting');
  });

  it('a second identical kill message (disable, enable, disable again) still closes the new connections', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const first = await openBoth(s, u.token);
    await s.fx.setDisabled(u.userId, true);
    await railsKill(s, `timeline:system:${u.accountId}`);
    await expectKilled(first, 'first disable');

    await s.fx.setDisabled(u.userId, false);
    const again = await openBoth(s, u.token);
    await s.fx.setDisabled(u.userId, true);
    // Byte-for-byte the same Redis message as before, seconds later: Rails would publish exactly this.
    await railsKill(s, `timeline:system:${u.accountId}`);
    await expectKilled(again, 'second disable');
  });

  it('filters_changed on the system channel neither closes the connection nor reaches the client', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const c = await openBoth(s, u.token);
    await s.publishRaw(`timeline:system:${u.accountId}`, railsMessage('filters_changed'));
    await s.publishRaw(`timeline:access_token:${u.tokenId}`, railsMessage('something_else'));
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    await c.ws.waitForEvent(wsHasId(st.id));
    await c.sse.waitForEvent((e) => e.data.includes(st.id));
    expect(c.ws.events((e) => e.event === 'filters_changed' || e.event === 'something_else')).toEqual([]);
    expect(c.sse.events.filter((e) => e.event === 'filters_changed' || e.event === 'something_else')).toEqual(
      [],
    );
    expect(c.ws.isOpen).toBe(true);
  });

  it('a kill reaches a WebSocket multiplexing several streams once, and metrics drop back', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const listId = await s.fx.createList(u.accountId);
    const ws = await s.ws({ token: u.token });
    ws.subscribe('user');
    ws.subscribe('list', { list: listId });
    ws.subscribe('direct');
    await s.ready(ws, `timeline:list:${listId}`);
    await s.ready(ws, `timeline:direct:${u.accountId}`);
    expect(await s.gateway.metric('connected_clients', { type: 'websocket' })).toBe(1);
    await railsKill(s, `timeline:access_token:${u.tokenId}`);
    expect((await ws.waitForClose(5_000)).code).toBe(1005);
    await waitForMetric(s.gateway, 'connected_clients', { type: 'websocket' }, (v) => v === 0);
    for (const channel of ['system', 'user', 'list', 'direct']) {
      await waitForMetric(s.gateway, 'connected_channels', { type: 'websocket', channel }, (v) => v === 0);
    }
  });
});
