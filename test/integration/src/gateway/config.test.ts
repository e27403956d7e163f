/**
 * Mastodon's process configuration (spec §2, §10, §16 rows 1–2): the "listening" log line,
 * `SOCKET` (chmod 0666), `BIND` (brackets stripped), `DB_*` when `DATABASE_URL` is empty, dotenv
 * files from the Mastodon root with real environment variables winning, and 500s when Postgres is
 * unreachable (while health stays OK).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { httpRequest, SseClient, WsClient } from '../harness/clients.js';
import { servers } from '../harness/env.js';
import { LISTENING, pickPort, SSE, startStack, statusJson, wsHasId } from './support.js';

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

describe('gateway configuration', () => {
  it('log - prints "Streaming API now listening on <host>:<port>" once listening', async () => {
    const s = await startStack();
    const line = await s.gateway.waitForLog(LISTENING, 1_000);
    expect(line).toContain(`127.0.0.1:${s.port}`);
    expect(s.gateway.logs.filter((l) => LISTENING.test(l))).toHaveLength(1);
  });

  it('SOCKET - listens on a UNIX socket (chmod 0666) instead of PORT; SSE and WebSocket work over it', async () => {
    const s = await startStack();
    const dir = tempDir('sluice-sock-');
    const socketPath = join(dir, 'streaming.sock');
    const port = await pickPort();
    const g = await s.launchGateway({ SOCKET: socketPath, PORT: String(port) });
    expect(await g.waitForLog(LISTENING)).toContain(socketPath);
    expect(statSync(socketPath).mode & 0o777).toBe(0o666);
    expect(await canConnect('127.0.0.1', port)).toBe(false);

    const health = await httpRequest({ port: 0, socketPath, path: `${SSE}/health` });
    expect(health.status).toBe(200);
    expect(health.body).toBe('OK');
    const u = await s.fx.createUser();
    const author = await s.fx.createAccount();
    const ws = await WsClient.connect({ port: 0, socketPath, token: u.token });
    ws.subscribe('public:local');
    const sse = await SseClient.open({ port: 0, socketPath, path: `${SSE}/public/local`, token: u.token });
    expect(sse.status).toBe(200);
    await s.ready(ws, 'timeline:public:local');
    await s.ready(sse, 'timeline:public:local');
    const st = statusJson(author);
    await s.publish('timeline:public:local', 'update', st);
    await ws.waitForEvent(wsHasId(st.id));
    await sse.waitForEvent((e) => e.data.includes(st.id));
  });

  it('BIND - "[::1]" (URI-style brackets) listens on IPv6 loopback only', async () => {
    const s = await startStack();
    const port = await pickPort();
    const g = await s.launchGateway({ BIND: '[::1]', PORT: String(port) });
    expect(await g.waitForLog(LISTENING)).toContain(String(port));
    const r = await httpRequest({ host: '::1', port, path: `${SSE}/health` });
    expect(r.status).toBe(200);
    expect(await canConnect('127.0.0.1', port)).toBe(false);
  });

  it('DB_* - with DATABASE_URL empty, DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASS are used', async () => {
    const s = await startStack();
    const url = new URL(servers().databaseUrl);
    const g = await s.startGateway({
      DATABASE_URL: '',
      DB_HOST: url.hostname,
      DB_PORT: url.port || '5432',
      DB_NAME: decodeURIComponent(url.pathname.slice(1)),
      DB_USER: decodeURIComponent(url.username),
      DB_PASS: decodeURIComponent(url.password),
      DB_SSLMODE: 'disable',
    });
    const u = await s.fx.createUser();
    const ws = await WsClient.connect({ port: g.port, token: u.token });
    expect(ws.status).toBe(101);
    const bad = await WsClient.attempt({ port: g.port, token: 'nope' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.status).toBe(401);
  });

  it('dotenv - .env (or .env.production with NODE_ENV=production) from MASTODON_ROOT is read; real variables win', async () => {
    const s = await startStack();
    const root = tempDir('sluice-root-');
    writeFileSync(join(root, '.env'), 'SLUICE_SSE_HEARTBEAT_MS=150\nSLUICE_WS_PING_MS=600000\n');
    writeFileSync(join(root, '.env.production'), 'SLUICE_SSE_HEARTBEAT_MS=600000\nSLUICE_WS_PING_MS=150\n');
    const dev = await s.startGateway({ MASTODON_ROOT: root, SLUICE_WS_PING_MS: '150' });
    const prod = await s.startGateway({ MASTODON_ROOT: root, NODE_ENV: 'production' });
    const u = await s.fx.createUser();

    // development: .env gives the fast SSE heartbeat; the real SLUICE_WS_PING_MS beats the file's.
    const devSse = await SseClient.open({ port: dev.port, path: `${SSE}/public`, token: u.token });
    await devSse.waitForComment('thump', 2_000, 2);
    const devWs = await WsClient.connect({ port: dev.port, token: u.token });
    await devWs.waitForPings(2, 2_000);

    // production: .env.production is read instead of .env.
    const prodWs = await WsClient.connect({ port: prod.port, token: u.token });
    await prodWs.waitForPings(2, 2_000);
    const prodSse = await SseClient.open({ port: prod.port, path: `${SSE}/public`, token: u.token });
    expect(prodSse.status).toBe(200);
    // A marker event (not a timer) bounds the wait: by the time two pings went by, no thump came.
    await prodWs.waitForPings(4, 2_000);
    expect(prodSse.comments.items.filter((c) => c.text === 'thump')).toEqual([]);
  });

  it('Postgres unreachable - SSE 500 An unexpected error occurred, WebSocket raw 500 with X-Error-Message; health OK', async () => {
    const s = await startStack();
    const url = new URL(servers().databaseUrl);
    url.pathname = '/sluice_no_such_database';
    const g = await s.launchGateway({ DATABASE_URL: url.toString() });
    const health = await httpRequest({ port: g.port, path: `${SSE}/health` });
    expect(health.status).toBe(200);
    expect(health.body).toBe('OK');

    const sse = await SseClient.open({ port: g.port, path: `${SSE}/public`, token: 'any-token' });
    expect(sse.status).toBe(500);
    expect(await sse.json()).toEqual({ error: 'An unexpected error occurred' });
    const ws = await WsClient.attempt({ port: g.port, token: 'any-token' });
    expect(ws.ok).toBe(false);
    if (!ws.ok) {
      expect(ws.status).toBe(500);
      expect(ws.headers['x-error-message']).toBe('An unexpected error occurred');
    }
    // Errors that need no database still answer as usual.
    const missing = await SseClient.open({ port: g.port, path: `${SSE}/public` });
    expect(missing.status).toBe(401);
    expect(g.running).toBe(true);
  });
});
