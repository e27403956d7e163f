/**
 * NATS restart (the gateway-side counterpart of spec §16 row 6, "resubscribe after Redis
 * reconnect"): connected clients stay connected, the gateway's subscriptions come back, and events
 * flow again once NATS (and ingest's stream) are back. Needs a NATS the harness can restart.
 */
import { describe, expect, it } from 'vitest';
import { canControlServer, restartServer } from '../harness/env.js';
import { railsKill, SSE, startStack, statusJson, wsHasId } from './support.js';

describe('gateway resilience', () => {
  it('NATS restart - clients stay connected and receive events again afterwards', async () => {
    // A missing test is not a passing one: without a restartable NATS this fails, loudly.
    expect(canControlServer('nats'), 'needs a NATS the harness can restart (scripts/services.sh)').toBe(true);
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const home = `timeline:${u.accountId}`;
    const ws = await s.ws({ token: u.token });
    ws.subscribe('public:local');
    ws.subscribe('user');
    const sse = await s.sse({ path: `${SSE}/public/local`, token: u.token });
    await s.ready(ws, 'timeline:public:local');
    await s.ready(ws, home);
    await s.ready(sse, 'timeline:public:local');

    await restartServer('nats');
    await s.ingest.waitForHealthy(30_000);
    await s.gateway.waitForHealthy(30_000);
    expect(ws.isOpen).toBe(true);
    expect(sse.ended).toBeNull();

    await s.ready(ws, 'timeline:public:local', 20_000);
    await s.ready(sse, 'timeline:public:local', 20_000);
    await s.ready(ws, home, 20_000);
    const st = statusJson(author);
    const h = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    expect(await s.publish(home, 'update', h)).toBe(true);
    await ws.waitForEvent(wsHasId(st.id));
    await ws.waitForEvent(wsHasId(h.id));
    await sse.waitForEvent((e) => e.data.includes(st.id));
    // A kill still works through the new subscriptions.
    await railsKill(s, `timeline:access_token:${u.tokenId}`);
    expect((await ws.waitForClose(5_000)).code).toBe(1005);
  });
});
