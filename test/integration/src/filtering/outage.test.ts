/**
 * A database outage or a stalled database must not stall delivery (issue 4, docs/filtering.md):
 * a status on a filtered stream waits at most SLUICE_FILTER_TIMEOUT_SECONDS for its decision, is
 * then dropped for the filtered subscribers and counted in
 * `sluice_gateway_filter_dropped_total{reason}`, while unfiltered streams (home) keep flowing
 * without waiting behind it. Afterwards filtering works again.
 *
 * Two ways the database goes away: the real server is stopped (connections refused: an error at
 * once), and a TCP proxy in front of it stops forwarding (the query hangs: the timeout decides).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { type Stack, startStack } from '../gateway/support.js';
import { canControlServer, servers, startServer, stopServer } from '../harness/env.js';
import { railsPublish } from '../harness/redis.js';
import { pollUntil } from '../harness/wait.js';
import {
  openPair,
  type Pair,
  PgProxy,
  publishMarker,
  readyPair,
  ssePayloads,
  status,
  streamSpec,
  waitForMarker,
  withFiltered,
  wsPayloads,
} from './support.js';

const TIMEOUT_S = 1;
const DROPPED = 'sluice_gateway_filter_dropped_total';

interface Setup {
  s: Stack;
  /** WebSocket subscribed to `public` and `user`, SSE to `public`. */
  pair: Pair;
  userId: string;
  author: Awaited<ReturnType<Stack['fx']['createAccount']>>;
}

async function setup(gatewayEnv: Record<string, string> = {}): Promise<Setup> {
  const s = await startStack({
    gatewayEnv: { SLUICE_FILTER_TIMEOUT_SECONDS: String(TIMEOUT_S), ...gatewayEnv },
  });
  // The test's own fixtures pool sees its idle connections die during the outage.
  s.fx.pool.on('error', () => {});
  const user = await s.fx.createUser();
  const author = await s.fx.createAccount();
  const pair = await openPair(s, user.token, streamSpec('public', { accountId: user.accountId, tag: 'x' }));
  pair.ws.subscribe('user');
  await readyPair(s, pair);
  await s.ready(pair.ws, `timeline:${user.accountId}`);
  // Warm up: filtering works, the pool holds a connection, the user's keyword filters are cached.
  await expectDelivered(s, pair, author);
  return { s, pair, userId: user.accountId, author };
}

async function expectDelivered(
  s: Stack,
  pair: Pair,
  author: Setup['author'],
  timeoutMs = 5_000,
): Promise<void> {
  const st = status(author);
  expect(await s.publish('timeline:public', 'update', st)).toBe(true);
  const bytes = withFiltered(st, []);
  await Promise.all([
    pair.ws.waitForEvent((e) => e.event === 'update' && e.payload === bytes, timeoutMs, 'a filtered status'),
    pair.sse.waitForEvent((e) => e.event === 'update' && e.data === bytes, timeoutMs, 'a filtered status'),
  ]);
}

/**
 * Publishes a public status and right after it a home-timeline status for the user; returns when
 * the home status arrived and when the public one was counted as dropped for both subscribers.
 */
async function failedDrops(s: Stack): Promise<{ timeout: number; error: number }> {
  return {
    timeout: await s.gateway.metric(DROPPED, { reason: 'timeout' }),
    error: await s.gateway.metric(DROPPED, { reason: 'error' }),
  };
}

async function publishDuringOutage(x: Setup) {
  const { s, pair, userId, author } = x;
  const before = await failedDrops(s);
  const pub = status(author);
  const home = status(author, { content: '<p>for your home timeline</p>' });
  const t0 = Date.now();
  expect(await s.publish('timeline:public', 'update', pub)).toBe(true);
  expect(await railsPublish(s.redis, `timeline:${userId}`, 'update', home)).toBe(true);

  const homeEvent = await pair.ws.waitForEvent(
    (e) => e.event === 'update' && e.payload === JSON.stringify(home),
    TIMEOUT_S * 1000 + 3_000,
    'the home status',
  );
  const homeLatency = homeEvent.at - t0;
  // Both public subscribers (WebSocket and SSE): dropped, not delivered, within the timeout.
  await pollUntil(
    'the public status counted as dropped for both subscribers',
    async () => {
      const now = await failedDrops(s);
      return now.timeout + now.error >= before.timeout + before.error + 2;
    },
    { timeoutMs: TIMEOUT_S * 1000 + 3_000, intervalMs: 20 },
  );
  const dropLatency = Date.now() - t0;
  const after = await failedDrops(s);
  const drops = { timeout: after.timeout - before.timeout, error: after.error - before.error };
  // The marker behind the status on the same channel proves it was dropped, not late.
  const marker = await publishMarker(s, 'timeline:public');
  await waitForMarker(pair, marker, TIMEOUT_S * 1000 + 5_000);
  expect(wsPayloads(pair.ws, 'update', pub.id)).toEqual([]);
  expect(ssePayloads(pair.sse, 'update', pub.id)).toEqual([]);
  return { homeLatency, dropLatency, drops };
}

describe('filtering - database outage', () => {
  it.skipIf(!canControlServer('postgres'))(
    'Postgres stopped: public statuses dropped for filtered subscribers and counted; home events arrive promptly',
    async () => {
      const x = await setup();
      await stopServer('postgres');
      let running = false;
      onTestFinished(async () => {
        if (!running) await startServer('postgres');
      });

      const r = await publishDuringOutage(x);
      console.info(
        `Postgres stopped: home status after ${r.homeLatency} ms, public status dropped after ≤ ${r.dropLatency} ms (${JSON.stringify(r.drops)})`,
      );
      // Refused connections fail at once (reason "error"); a connect that hangs would be "timeout".
      expect(r.drops.timeout + r.drops.error).toBe(2);
      expect(r.homeLatency).toBeLessThan(500);
      expect(r.dropLatency).toBeLessThan(TIMEOUT_S * 1000 + 1_500);
      const logged = x.s.gateway.jsonLogs().some((l) => String(l['msg']).startsWith('Filter queries failed'));
      expect(logged, 'the gateway logged the dropped decision').toBe(true);

      await startServer('postgres');
      running = true;
      // The pool reconnects: filtering works again.
      await expectDelivered(x.s, x.pair, x.author, 10_000);
    },
  );

  it('Postgres stalled (queries hang): dropped after SLUICE_FILTER_TIMEOUT_SECONDS as reason="timeout"; home not delayed', async () => {
    const proxy = await PgProxy.start(servers().databaseUrl);
    const x = await setup({ DATABASE_URL: proxy.url(servers().databaseUrl) });

    proxy.holdRequests();
    const r = await publishDuringOutage(x);
    console.info(
      `Postgres stalled: home status after ${r.homeLatency} ms, public status dropped after ≤ ${r.dropLatency} ms (${JSON.stringify(r.drops)})`,
    );
    expect(r.drops).toEqual({ timeout: 2, error: 0 });
    // Home flowed while the public status was still waiting for its decision.
    expect(r.homeLatency).toBeLessThan(500);
    expect(r.dropLatency).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 50);
    expect(r.dropLatency).toBeLessThan(TIMEOUT_S * 1000 + 1_500);

    proxy.release();
    await expectDelivered(x.s, x.pair, x.author, 5_000);
    // Nothing else was dropped on the way.
    expect(await x.s.gateway.metric(DROPPED, { reason: 'timeout' })).toBe(2);
    expect(await x.s.gateway.metric(DROPPED, { reason: 'error' })).toBe(0);
  });
});
