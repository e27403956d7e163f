/**
 * Token sources and their precedence (spec §5.1, §4.1): Authorization (with or without `Bearer `),
 * then `access_token`, then `Sec-WebSocket-Protocol` — for SSE and WebSocket alike — and the echo of
 * the first offered subprotocol.
 */
import { describe, expect, it } from 'vitest';
import { WsClient } from '../harness/clients.js';
import { SSE, startStack, statusJson, wsHasId } from './support.js';

describe('gateway authentication sources', () => {
  it('SSE - Authorization Bearer, access_token query and Sec-WebSocket-Protocol each authenticate', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    for (const via of ['header', 'query', 'protocol'] as const) {
      const c = await s.sse({ path: `${SSE}/public/local`, token: u.token, via });
      expect(c.status, via).toBe(200);
      await s.ready(c, 'timeline:public:local');
    }
    // Without the "Bearer " prefix the whole header value is the token.
    const bare = await s.sse({ path: `${SSE}/public/local`, headers: { Authorization: u.token } });
    expect(bare.status).toBe(200);
    // The prefix is exact and case-sensitive: "bearer <token>" is taken as the token itself.
    const lower = await s.sse({
      path: `${SSE}/public/local`,
      headers: { Authorization: `bearer ${u.token}` },
    });
    expect(lower.status).toBe(401);
    expect(await lower.json()).toEqual({ error: 'Invalid access token' });
  });

  it('SSE - precedence: Authorization wins over access_token, which wins over Sec-WebSocket-Protocol', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const path = `${SSE}/public`;
    const ok = async (
      headers: Record<string, string>,
      query: Record<string, string>,
      expected: number,
      what: string,
    ) => {
      const c = await s.sse({ path, headers, query });
      expect(c.status, what).toBe(expected);
      if (expected !== 200) expect(await c.json(), what).toEqual({ error: 'Invalid access token' });
      c.close();
    };
    await ok(
      { Authorization: `Bearer ${u.token}` },
      { access_token: 'wrong' },
      200,
      'valid header, wrong query',
    );
    await ok({ Authorization: 'Bearer wrong' }, { access_token: u.token }, 401, 'wrong header, valid query');
    await ok(
      { 'Sec-WebSocket-Protocol': 'wrong' },
      { access_token: u.token },
      200,
      'valid query, wrong protocol',
    );
    await ok(
      { 'Sec-WebSocket-Protocol': u.token },
      { access_token: 'wrong' },
      401,
      'wrong query, valid protocol',
    );
    await ok(
      { Authorization: 'Bearer wrong', 'Sec-WebSocket-Protocol': u.token },
      {},
      401,
      'wrong header, valid protocol',
    );
  });

  it('WS - each token source authenticates; the first offered subprotocol is echoed; X-Request-Id on the 101', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const viaHeader = await s.ws({ token: u.token, via: 'header' });
    const viaQuery = await s.ws({ token: u.token, via: 'query' });
    const viaProtocol = await s.ws({ token: u.token, via: 'protocol' });
    for (const c of [viaHeader, viaQuery, viaProtocol]) {
      expect(c.status).toBe(101);
      expect(String(c.headers['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/i);
      expect(c.headers['sec-websocket-extensions']).toBeUndefined(); // no permessage-deflate
    }
    // Browsers pass the token as subprotocol and abort unless the server echoes one.
    expect(viaProtocol.headers['sec-websocket-protocol']).toBe(u.token);
    expect(viaProtocol.protocol).toBe(u.token);
    expect(viaHeader.headers['sec-websocket-protocol']).toBeUndefined();

    // With the token in the header, offered subprotocols are still echoed: the first one.
    const offered = await s.ws({ token: u.token, via: 'header', protocols: ['first', 'second'] });
    expect(offered.protocol).toBe('first');

    for (const c of [viaHeader, viaQuery, viaProtocol]) c.subscribe('public:local');
    for (const c of [viaHeader, viaQuery, viaProtocol]) await s.ready(c, 'timeline:public:local');
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    for (const c of [viaHeader, viaQuery, viaProtocol]) await c.waitForEvent(wsHasId(st.id));
  });

  it('WS - precedence: Authorization, then access_token, then Sec-WebSocket-Protocol', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const attempt = (o: { header?: string; query?: string; protocol?: string }) =>
      WsClient.attempt({
        port: s.port,
        ...(o.header ? { headers: { Authorization: `Bearer ${o.header}` } } : {}),
        ...(o.query ? { query: { access_token: o.query } } : {}),
        ...(o.protocol ? { protocols: [o.protocol] } : {}),
      });
    const expectOk = async (o: Parameters<typeof attempt>[0], what: string) => {
      const r = await attempt(o);
      expect(
        r.ok,
        `${what}: ${r.ok ? '' : `${r.status} ${r.headers['x-error-message']} ${r.error?.message ?? ''}`}`,
      ).toBe(true);
      if (r.ok) await r.client.close();
    };
    const expect401 = async (o: Parameters<typeof attempt>[0], what: string) => {
      const r = await attempt(o);
      expect(r.ok, what).toBe(false);
      if (!r.ok) {
        expect(r.status, what).toBe(401);
        expect(r.headers['x-error-message'], what).toBe('Invalid access token');
      }
    };
    await expectOk({ header: u.token, query: 'wrong' }, 'valid header, wrong query');
    await expect401({ header: 'wrong', query: u.token }, 'wrong header, valid query');
    await expectOk({ query: u.token, protocol: 'wrong' }, 'valid query, wrong protocol (still echoed)');
    await expect401({ query: 'wrong', protocol: u.token }, 'wrong query, valid protocol');
    await expect401({ header: 'wrong', protocol: u.token }, 'wrong header, valid protocol');
  });
});
