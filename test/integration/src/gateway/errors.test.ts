/**
 * Every error a client can see (spec §3.4, §3.5, §4.1, §4.5): HTTP statuses and JSON bodies for
 * SSE, raw 401 responses with X-Error-Message for failed WebSocket upgrades, and WebSocket error
 * frames, which never close the connection.
 */
import { describe, expect, it } from 'vitest';
import { httpRequest, type SseClient, WsClient } from '../harness/clients.js';
import { SSE, type Stack, startStack, statusJson, wsHasId } from './support.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function expectJsonError(c: SseClient, status: number, error: string, what: string) {
  expect(c.status, what).toBe(status);
  expect(String(c.headers['content-type']), what).toMatch(/^application\/json/);
  expect(await c.json(), what).toEqual({ error });
  expect(c.headers['www-authenticate'], what).toBeUndefined();
  expect(String(c.headers['x-request-id']), what).toMatch(UUID);
  expect(c.headers['access-control-allow-origin'], what).toBe('*');
}

async function expectWsRejected(
  s: Stack,
  token: string | undefined,
  status: number,
  message: string,
  what: string,
) {
  const r = await WsClient.attempt({ port: s.port, ...(token === undefined ? {} : { token }) });
  expect(r.ok, what).toBe(false);
  if (r.ok) return;
  expect(r.status, what).toBe(status);
  expect(r.headers['x-error-message'], what).toBe(message);
  expect(String(r.headers['x-request-id']), what).toMatch(UUID);
  expect(r.headers['content-length'], what).toBe('0');
  expect(r.body, what).toBe('');
  expect(r.headers['access-control-allow-origin'], what).toBeUndefined();
}

describe('gateway errors', () => {
  it('HTTP - any path but the nine stream paths is 400 Unknown channel requested, before authentication', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const paths = [
      '/api/v1/streaming',
      '/api/v1/streaming/',
      '/api/v1/streaming/public/',
      '/api/v1/streaming/user/',
      '/api/v1/streaming/hashtag/local/',
      '/api/v1/streaming/public/media',
      '/api/v1/streaming/public/local/media',
      '/api/v1/streaming/Public',
      '/api/v1/streaming/publik',
      '/api/v1/streaming/user/notifications',
      '/foo',
    ];
    for (const path of paths) {
      const anon = await s.sse({ path });
      await expectJsonError(anon, 400, 'Unknown channel requested', `${path} without a token`);
      const authed = await s.sse({ path, token: u.token });
      await expectJsonError(authed, 400, 'Unknown channel requested', `${path} with a token`);
    }
    const post = await s.sse({ path: '/api/v1/streaming/health', method: 'POST' });
    await expectJsonError(post, 400, 'Unknown channel requested', 'POST /api/v1/streaming/health');
  });

  it('HTTP - 401 Missing access token and Invalid access token (unknown, revoked, disabled user, suspended account)', async () => {
    const s = await startStack();
    const revoked = await s.fx.createUser({ revoked: true });
    const disabled = await s.fx.createUser({ disabled: true });
    const suspended = await s.fx.createUser({ suspended: true });
    for (const path of ['/public', '/user', '/user/notification', '/direct']) {
      await expectJsonError(
        await s.sse({ path: SSE + path }),
        401,
        'Missing access token',
        `${path} without token`,
      );
      await expectJsonError(
        await s.sse({ path: SSE + path, token: 'nope' }),
        401,
        'Invalid access token',
        `${path} unknown token`,
      );
    }
    await expectJsonError(
      await s.sse({ path: `${SSE}/public`, token: revoked.token }),
      401,
      'Invalid access token',
      'revoked',
    );
    await expectJsonError(
      await s.sse({ path: `${SSE}/public`, token: disabled.token }),
      401,
      'Invalid access token',
      'disabled',
    );
    await expectJsonError(
      await s.sse({ path: `${SSE}/public`, token: suspended.token }),
      401,
      'Invalid access token',
      'suspended',
    );
    await expectJsonError(
      await s.sse({ path: `${SSE}/public`, token: revoked.token, via: 'query' }),
      401,
      'Invalid access token',
      'revoked via query',
    );
  });

  it('HTTP - scopes per stream: read or read:statuses, user:notification needs read or read:notifications', async () => {
    const s = await startStack();
    const tokens = {
      read: await s.fx.createUser({ scopes: 'read' }),
      statuses: await s.fx.createUser({ scopes: 'read:statuses' }),
      notifications: await s.fx.createUser({ scopes: 'read:notifications' }),
      write: await s.fx.createUser({ scopes: 'write follow push' }),
      profile: await s.fx.createUser({ scopes: 'profile' }),
    };
    const list = await s.fx.createList(tokens.notifications.accountId);
    const cases: [keyof typeof tokens, string, Record<string, string>, number][] = [
      ['read', '/user/notification', {}, 200],
      ['notifications', '/user/notification', {}, 200],
      ['statuses', '/user/notification', {}, 401],
      ['write', '/user/notification', {}, 401],
      ['statuses', '/user', {}, 200],
      ['notifications', '/user', {}, 401],
      ['statuses', '/public', {}, 200],
      ['notifications', '/public', {}, 401],
      ['notifications', '/public/local', {}, 401],
      ['write', '/public/remote', {}, 401],
      ['profile', '/public', {}, 401],
      ['notifications', '/hashtag', { tag: 'x' }, 401],
      ['statuses', '/hashtag/local', { tag: 'x' }, 200],
      ['notifications', '/list', { list }, 401],
      ['notifications', '/direct', {}, 401],
      ['profile', '/direct', {}, 401],
    ];
    for (const [who, path, query, status] of cases) {
      const c = await s.sse({ path: SSE + path, query, token: tokens[who].token });
      const what = `${who} on ${path}`;
      if (status === 200) {
        expect(c.status, what).toBe(200);
        c.close();
      } else {
        await expectJsonError(c, 401, 'Access token does not have the required scopes', what);
      }
    }
  });

  it("HTTP - missing tag or list is 400, a list that is not the user's is 401 Not authorized to stream this list", async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const other = await s.fx.createUser();
    const othersList = await s.fx.createList(other.accountId);
    const cases: [string, Record<string, string>, number, string][] = [
      ['/hashtag', {}, 400, 'Missing tag name parameter'],
      ['/hashtag', { tag: '' }, 400, 'Missing tag name parameter'],
      ['/hashtag/local', {}, 400, 'Missing tag name parameter'],
      ['/list', {}, 400, 'Missing list name parameter'],
      ['/list', { list: othersList }, 401, 'Not authorized to stream this list'],
      ['/list', { list: '1' }, 401, 'Not authorized to stream this list'],
      ['/list', { list: 'abc' }, 401, 'Not authorized to stream this list'],
    ];
    for (const [path, query, status, error] of cases) {
      await expectJsonError(
        await s.sse({ path: SSE + path, query, token: u.token }),
        status,
        error,
        `${path} ${JSON.stringify(query)}`,
      );
    }
  });

  it('WS - failed authentication is a raw 401 with X-Error-Message, empty body, no CORS', async () => {
    const s = await startStack();
    const revoked = await s.fx.createUser({ revoked: true });
    const disabled = await s.fx.createUser({ disabled: true });
    const suspended = await s.fx.createUser({ suspended: true });
    await expectWsRejected(s, undefined, 401, 'Missing access token', 'no token');
    await expectWsRejected(s, 'nope', 401, 'Invalid access token', 'unknown token');
    await expectWsRejected(s, revoked.token, 401, 'Invalid access token', 'revoked token');
    await expectWsRejected(s, disabled.token, 401, 'Invalid access token', 'disabled user');
    await expectWsRejected(s, suspended.token, 401, 'Invalid access token', 'suspended account');
  });

  it('WS - scopes are checked at subscribe, not at upgrade; error frames never close the socket', async () => {
    const s = await startStack();
    const w = await s.fx.createUser({ scopes: 'write' });
    const ws = await s.ws({ token: w.token });
    expect(ws.status).toBe(101);
    ws.subscribe('public:local');
    const f = await ws.waitForMessage((m) => m.json?.error !== undefined);
    expect(f.raw).toBe('{"error":"Access token does not have the required scopes","status":401}');
    expect(ws.isOpen).toBe(true);
  });

  it('WS - error frames for unknown streams, missing tag or list, foreign lists and failed unsubscribes', async () => {
    const s = await startStack();
    const u = await s.fx.createUser({ scopes: 'read' });
    const n = await s.fx.createUser({ scopes: 'read:notifications' });
    const other = await s.fx.createUser();
    const othersList = await s.fx.createList(other.accountId);
    const author = await s.fx.createAccount();
    const ws = await s.ws({ token: u.token });
    const cases: [Record<string, unknown>, string][] = [
      [{ type: 'subscribe', stream: 'nope' }, '{"error":"Unknown stream type","status":400}'],
      [{ type: 'subscribe' }, '{"error":"Unknown stream type","status":400}'],
      [{ type: 'subscribe', stream: 'public:local:' }, '{"error":"Unknown stream type","status":400}'],
      [{ type: 'subscribe', stream: 'hashtag' }, '{"error":"Missing tag name parameter","status":400}'],
      [
        { type: 'subscribe', stream: 'hashtag:local', tag: '' },
        '{"error":"Missing tag name parameter","status":400}',
      ],
      [{ type: 'subscribe', stream: 'list' }, '{"error":"Missing list name parameter","status":400}'],
      [
        { type: 'subscribe', stream: 'list', list: othersList },
        '{"error":"Not authorized to stream this list","status":401}',
      ],
      [
        { type: 'subscribe', stream: 'list', list: '1' },
        '{"error":"Not authorized to stream this list","status":401}',
      ],
      [
        { type: 'subscribe', stream: 'list', list: 'abc' },
        '{"error":"Not authorized to stream this list","status":401}',
      ],
      [
        { type: 'unsubscribe', stream: 'list', list: othersList },
        '{"error":"Error unsubscribing from channel"}',
      ],
    ];
    for (const [msg, expected] of cases) {
      const before = ws.errors().length;
      ws.send(msg);
      await ws.frames.waitForCount(
        (m) => m.json?.error !== undefined,
        before + 1,
        5_000,
        `the reply to ${JSON.stringify(msg)}`,
      );
      expect(ws.errors()[before]!.raw, JSON.stringify(msg)).toBe(expected);
    }
    expect(ws.isOpen).toBe(true);
    // Still usable after all those errors.
    ws.subscribe('public:local');
    await s.ready(ws, 'timeline:public:local');
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    await ws.waitForEvent(wsHasId(st.id));

    // The scope check comes first, even for unknown stream names (spec §4.5).
    const wn = await s.ws({ token: n.token });
    wn.subscribe('nope');
    expect((await wn.waitForMessage((m) => m.json?.error !== undefined)).raw).toBe(
      '{"error":"Access token does not have the required scopes","status":401}',
    );
    wn.subscribe('user:notification');
    await s.ready(wn, `timeline:${n.accountId}:notifications`);
  });

  it('HTTP - unknown methods on stream paths are not served as streams; favicon is 404', async () => {
    const s = await startStack();
    const fav = await httpRequest({ port: s.port, path: '/favicon.ico' });
    expect(fav.status).toBe(404);
    expect(fav.body).toBe('');
    const u = await s.fx.createUser();
    const post = await httpRequest({
      port: s.port,
      path: `${SSE}/public`,
      method: 'POST',
      headers: { Authorization: `Bearer ${u.token}` },
    });
    expect(post.status).toBe(404);
    expect(String(post.headers['content-type'] ?? '')).not.toMatch(/event-stream/);
  });
});
