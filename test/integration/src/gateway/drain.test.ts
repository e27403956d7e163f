/**
 * Graceful drain (issue 3, Done when; DESIGN decision 11): SIGTERM with 2,000 open connections →
 * the gateway turns unready and stops accepting, closes every WebSocket with 1012 and ends every
 * SSE response, spread over SLUICE_DRAIN_SECONDS, none abruptly, and exits 0.
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { inBatches, SseClient, WsClient } from '../harness/clients.js';
import type { TestUser } from '../harness/fixtures.js';
import { pollUntil } from '../harness/wait.js';
import { expectFdLimit, SSE, startStack, waitForMetric } from './support.js';

const WS_CLIENTS = 1_000;
const SSE_CLIENTS = 1_000;
const DRAIN_SECONDS = 3;

/** Readiness answer, or 0 when the connection is refused (the listener is closed). */
function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

describe('gateway drain', () => {
  it('drain - SIGTERM with 2,000 connections: every client closed with 1012 or ended within the window, none abruptly, exit 0', async () => {
    await expectFdLimit(2 * (WS_CLIENTS + SSE_CLIENTS) + 500);
    const s = await startStack({
      gatewayEnv: { SLUICE_DRAIN_SECONDS: String(DRAIN_SECONDS), LOG_LEVEL: 'warn' },
    });
    const g = s.gateway;
    const users: TestUser[] = [];
    for (let i = 0; i < 20; i++) users.push(await s.fx.createUser());

    const ws = await inBatches([...Array(WS_CLIENTS).keys()], 100, (i) =>
      WsClient.connect({
        port: s.port,
        token: users[i % users.length]!.token,
        query: { stream: 'public:local' },
      }),
    );
    const sse = await inBatches([...Array(SSE_CLIENTS).keys()], 100, (i) =>
      SseClient.open({
        port: s.port,
        path: `${SSE}/public/local`,
        token: users[i % users.length]!.token,
        keepRaw: false,
      }),
    );
    expect(sse.filter((c) => c.status !== 200)).toEqual([]);
    await waitForMetric(g, 'connected_clients', { type: 'websocket' }, (v) => v === WS_CLIENTS, 15_000);
    await waitForMetric(g, 'connected_clients', { type: 'eventsource' }, (v) => v === SSE_CLIENTS, 15_000);
    await s.ready(ws[0]!, 'timeline:public:local');

    const sigterm = Date.now();
    const exit = g.stop('SIGTERM', (DRAIN_SECONDS + 10) * 1000);

    // Unready, then no new connections.
    const status = await pollUntil(
      '/readyz to stop answering 200',
      async () => {
        const st = await readyz(g.port);
        return st !== 200 ? { st } : undefined;
      },
      { timeoutMs: 2_000, intervalMs: 20 },
    );
    expect([0, 503]).toContain(status.st);
    const late = await WsClient.attempt({ port: g.port, token: users[0]!.token, timeoutMs: 2_000 });
    expect(late.ok, 'a new WebSocket during the drain').toBe(false);

    const window = DRAIN_SECONDS * 1000 + 1_500;
    const wsCloses = await Promise.all(ws.map((c) => c.waitForClose(window + 1_000).catch(() => null)));
    const sseEnds = await Promise.all(sse.map((c) => c.waitForEnd(window + 1_000).catch(() => null)));
    const code = await exit;
    const exitedAfter = Date.now() - sigterm;

    const wsCodes = new Map<string, number>();
    for (const c of wsCloses) {
      const k = c ? String(c.code) : 'still open';
      wsCodes.set(k, (wsCodes.get(k) ?? 0) + 1);
    }
    expect(Object.fromEntries(wsCodes), 'WebSocket close codes').toEqual({ '1012': WS_CLIENTS });
    const sseHow = new Map<string, number>();
    for (const e of sseEnds) {
      const k = e ? e.how : 'still open';
      sseHow.set(k, (sseHow.get(k) ?? 0) + 1);
    }
    expect(Object.fromEntries(sseHow), 'how SSE responses ended').toEqual({ complete: SSE_CLIENTS });

    const times = [...wsCloses.map((c) => c!.at), ...sseEnds.map((e) => e!.at)]
      .map((t) => t - sigterm)
      .sort((a, b) => a - b);
    expect(times[times.length - 1]!, 'last close after SIGTERM (ms)').toBeLessThanOrEqual(window);
    // Spread over the window rather than all at once (no reconnect storm).
    const spread = percentile(times, 0.9) - percentile(times, 0.1);
    expect(
      spread,
      `closes p10 ${percentile(times, 0.1)} ms, p90 ${percentile(times, 0.9)} ms`,
    ).toBeGreaterThanOrEqual(DRAIN_SECONDS * 1000 * 0.3);
    expect(code, 'exit code').toBe(0);
    expect(exitedAfter).toBeLessThanOrEqual(window + 2_000);
  });
});
