/**
 * The plain HTTP surface (spec §3.1, §16 rows 3 and 12): health, CORS preflight and headers,
 * X-Request-Id on every response (fresh per request, incoming values ignored).
 */
import { describe, expect, it } from 'vitest';
import { httpRequest, WsClient } from '../harness/clients.js';
import { SSE, startStack } from './support.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

describe('gateway HTTP', () => {
  it('health - GET /api/v1/streaming/health answers OK, text/plain, no-store, without authentication', async () => {
    const s = await startStack();
    const r = await httpRequest({ port: s.port, path: `${SSE}/health` });
    expect(r.status).toBe(200);
    expect(r.body).toBe('OK');
    expect(String(r.headers['content-type'])).toMatch(/^text\/plain/);
    expect(r.headers['cache-control']).toBe('private, no-store');
    expect(r.headers['access-control-allow-origin']).toBe('*');
    expect(String(r.headers['x-request-id'])).toMatch(UUID);
  });

  it('CORS - OPTIONS on any path is a 204 preflight echoing the requested headers', async () => {
    const s = await startStack();
    for (const path of [`${SSE}/public`, `${SSE}/health`, '/anything/else', '/metrics']) {
      const r = await httpRequest({
        port: s.port,
        path,
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example',
          'Access-Control-Request-Method': 'GET',
          'Access-Control-Request-Headers': 'authorization,x-custom',
        },
      });
      expect(r.status, path).toBe(204);
      expect(r.body, path).toBe('');
      expect(r.headers['access-control-allow-origin'], path).toBe('*');
      expect(r.headers['access-control-allow-methods'], path).toBe('GET,HEAD,PUT,PATCH,POST,DELETE');
      expect(r.headers['access-control-allow-headers'], path).toBe('authorization,x-custom');
      expect(String(r.headers['vary']), path).toMatch(/Access-Control-Request-Headers/i);
      expect(r.headers['access-control-allow-credentials'], path).toBeUndefined();
    }
  });

  it('X-Request-Id - on SSE, errors, health, metrics and the 101; a fresh UUID each time, incoming ignored', async () => {
    const s = await startStack();
    const u = await s.fx.createUser();
    const incoming = { 'X-Request-Id': 'client-chosen-id' };
    const ids: string[] = [];
    const sse = await s.sse({ path: `${SSE}/public`, token: u.token, headers: incoming });
    ids.push(String(sse.headers['x-request-id']));
    sse.close();
    const err = await s.sse({ path: `${SSE}/nope`, headers: incoming });
    ids.push(String(err.headers['x-request-id']));
    const unauth = await s.sse({ path: `${SSE}/public`, headers: incoming });
    ids.push(String(unauth.headers['x-request-id']));
    for (const path of [`${SSE}/health`, `${SSE}/health`, '/metrics']) {
      ids.push(
        String((await httpRequest({ port: s.port, path, headers: incoming })).headers['x-request-id']),
      );
    }
    const ws = await WsClient.connect({ port: s.port, token: u.token, headers: incoming });
    ids.push(String(ws.headers['x-request-id']));
    const refused = await WsClient.attempt({ port: s.port, token: 'nope', headers: incoming });
    expect(refused.ok).toBe(false);
    if (!refused.ok) ids.push(String(refused.headers['x-request-id']));
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
