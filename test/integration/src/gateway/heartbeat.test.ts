/**
 * Keep-alive (spec §3.3, §4.6): SSE `:)` preamble and `:thump` comments every heartbeat interval;
 * WebSocket pings every interval, and a client that does not answer with a pong is terminated.
 * The gateway runs with 200 ms intervals (SLUICE_SSE_HEARTBEAT_MS / SLUICE_WS_PING_MS) instead
 * of Mastodon's 15 s / 30 s.
 */
import { describe, expect, it } from 'vitest';
import { FAST_HEARTBEATS, SSE, startStack } from './support.js';

describe('gateway heartbeats', () => {
  it('SSE - ":)" first, then ":thump" blank-line terminated, about every heartbeat interval', async () => {
    const s = await startStack({ gatewayEnv: FAST_HEARTBEATS });
    const u = await s.fx.createUser();
    const c = await s.sse({ path: `${SSE}/public`, token: u.token });
    await c.waitForComment(')', 2_000);
    await c.waitForComment('thump', 3_000, 4);
    expect(c.text.startsWith(':)\n')).toBe(true);
    expect(c.text).toContain(':thump\n\n');
    const times = c.comments.items.filter((x) => x.text === 'thump').map((x) => x.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Regular beats, not a burst and not much slower than configured.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...gaps)).toBeLessThan(1_000);
    expect(c.comments.items.filter((x) => x.text !== 'thump' && x.text !== ')')).toEqual([]);
  });

  it('WS - pings every interval; an answering client stays, one that never pongs is terminated (no close frame)', async () => {
    const s = await startStack({ gatewayEnv: FAST_HEARTBEATS });
    const u = await s.fx.createUser();
    const good = await s.ws({ token: u.token });
    const mute = await s.ws({ token: u.token, autoPong: false });
    await good.waitForPings(3, 3_000);
    await mute.waitForPings(1, 3_000);
    const close = await mute.waitForClose(3_000);
    // Terminated: TCP destroyed without a close frame, which `ws` reports as 1006.
    expect(close.code).toBe(1006);
    // The answering client keeps getting pings after the other one was dropped.
    const seen = good.pings.items.length;
    await good.pings.waitForCount(() => true, seen + 3, 3_000, 'more pings');
    expect(good.isOpen).toBe(true);
    const gaps = good.pings.items.slice(1).map((t, i) => t - good.pings.items[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
  });
});
