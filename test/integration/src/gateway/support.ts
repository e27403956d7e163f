/**
 * What every gateway end-to-end test needs: a real stack (ingest + gateway processes on the test's
 * own NATS prefix and stream, the shared Redis and Postgres), fixtures, Rails-like publishing,
 * clients bound to the gateway's port, Mastodon-shaped payloads, and `ready()`, which proves a
 * subscription is live end to end by publishing probes until one arrives.
 *
 * The harness kills every service after each test (harness/setup.ts), so each test starts its own
 * stack with `startStack()`; clean-up (clients, fixtures, the test's JetStream stream) is
 * registered with `onTestFinished`.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Redis } from 'ioredis';
import { expect, onTestFinished } from 'vitest';
import {
  closeAllClients,
  SseClient as Sse,
  type SseClient,
  type SseEvent,
  type SseOptions,
  WsClient,
  type WsEvent,
  type WsOptions,
} from '../harness/clients.js';
import { servers, type TestScope, testScope } from '../harness/env.js';
import { Fixtures, nextId, type TestAccount } from '../harness/fixtures.js';
import { connectNats, deleteStream } from '../harness/nats.js';
import { publishRaw, railsMessage, railsPublish, redisClient, waitForKey } from '../harness/redis.js';
import { type ServiceHandle, startService } from '../harness/service.js';
import { pollUntil } from '../harness/wait.js';

export const SSE = '/api/v1/streaming';

/** The line Mastodon's test harness waits for (spec §10, §13). */
export const LISTENING = /Streaming API now listening on/;

/** Fast heartbeats so tests can observe them (spec: 15 s SSE, 30 s WS ping). */
export const FAST_HEARTBEATS = { SLUICE_SSE_HEARTBEAT_MS: '200', SLUICE_WS_PING_MS: '200' } as const;

export interface StackOptions {
  gatewayEnv?: Record<string, string>;
  ingestEnv?: Record<string, string>;
  /** Number of gateway processes (default 1). */
  gateways?: number;
  /** A database other than the harness's (an IsolatedDatabase url). */
  databaseUrl?: string;
}

export interface Stack {
  scope: TestScope;
  ingest: ServiceHandle;
  gateways: ServiceHandle[];
  /** The first gateway. */
  gateway: ServiceHandle;
  port: number;
  redis: Redis;
  fx: Fixtures;
  /** Publishes like Rails (personal channels only while their `subscribed:` key exists). */
  publish(channel: string, event: string, payload?: unknown): Promise<boolean>;
  /** PUBLISHes exactly these bytes, no `subscribed:` check. */
  publishRaw(channel: string, message: string): Promise<number>;
  ws(opts: Omit<WsOptions, 'port'> & { port?: number }): Promise<WsClient>;
  sse(opts: Omit<SseOptions, 'port'> & { port?: number }): Promise<SseClient>;
  startGateway(env?: Record<string, string>): Promise<ServiceHandle>;
  /** Starts another gateway and waits only for Mastodon's "listening" log line (no readiness check). */
  launchGateway(env?: Record<string, string>): Promise<ServiceHandle>;
  /** Publishes probes on `channel` until `client` receives one (the subscription is live end to end). */
  ready(client: WsClient | SseClient, channel: string, timeoutMs?: number): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const scope = testScope();
  const db: Record<string, string> = opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {};
  const fx = new Fixtures(opts.databaseUrl ?? servers().databaseUrl);
  const redis = redisClient();
  onTestFinished(async () => {
    closeAllClients();
    await fx.close().catch(() => {});
  });
  onTestFinished(async () => {
    // Runs after the services were stopped by the test (or before the harness kills them).
    const nc = await connectNats('sluice-gateway-test-cleanup').catch(() => null);
    if (nc) {
      await deleteStream(nc, scope.stream).catch(() => {});
      await nc.close().catch(() => {});
    }
  });

  // A fresh ingest replica holds publishing for SLUICE_INGEST_JOIN_DELAY_SECONDS (2 s) to join
  // others in order; a test's single replica need not wait.
  const ingestEnv = { SLUICE_INGEST_JOIN_DELAY_SECONDS: '0', ...scope.env, ...(opts.ingestEnv ?? {}) };
  const ingest = await launch('ingest', ingestEnv, (h) => h.waitForHealthy(20_000));
  const gatewayEnv: Record<string, string> = { ...scope.env, ...db, ...(opts.gatewayEnv ?? {}) };
  const startGateway = (env: Record<string, string> = {}) =>
    launch('gateway', { ...gatewayEnv, ...env }, (g) => g.waitForHealthy(20_000));
  const launchGateway = (env: Record<string, string> = {}) =>
    launch('gateway', { ...gatewayEnv, ...env }, async (g) => void (await g.waitForLog(LISTENING, 15_000)));
  const gateways = await Promise.all(Array.from({ length: opts.gateways ?? 1 }, () => startGateway()));
  const gateway = gateways[0]!;

  const stack: Stack = {
    scope,
    ingest,
    gateways,
    gateway,
    port: gateway.port,
    redis,
    fx,
    publish: (channel, event, payload) => railsPublish(redis, channel, event, payload),
    publishRaw: (channel, message) => publishRaw(redis, channel, message),
    ws: (o) => WsClient.connect({ port: gateway.port, ...o }),
    sse: (o) => Sse.open({ port: gateway.port, ...o }),
    startGateway,
    launchGateway,
    async ready(client, channel, timeoutMs = 10_000) {
      const probes = new Set<string>();
      const isProbe =
        client instanceof WsClient
          ? (e: WsEvent) => wsProbe(e, probes)
          : (e: SseEvent) => sseProbe(e, probes);
      const deadline = Date.now() + timeoutMs;
      let published = 0;
      for (;;) {
        const id = probeId();
        probes.add(id);
        if (await railsPublish(redis, channel, 'delete', id)) published++;
        try {
          if (client instanceof WsClient)
            await client.waitForEvent(isProbe as (e: WsEvent) => boolean, 250, 'a probe');
          else await client.waitForEvent(isProbe as (e: SseEvent) => boolean, 250, 'a probe');
          return;
        } catch (err) {
          if (
            Date.now() > deadline ||
            (err as Error).message.includes('closed') ||
            (err as Error).message.includes('ended')
          ) {
            throw new Error(
              `no probe on ${channel} reached the client within ${timeoutMs} ms ` +
                `(${probes.size} probes, ${published} published by Rails rules): ${(err as Error).message}`,
            );
          }
        }
      }
    },
  };
  return stack;
}

// ------------------------------------------------------------------ processes

/**
 * A port below Linux's ephemeral range (32768+), free right now. The harness's `freePort()` takes
 * one from the ephemeral range, where the many client sockets these tests open (and their
 * TIME_WAIT leftovers) can grab it before the service binds it.
 */
export async function pickPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

/** Starts a service on a picked port (unless the env names one); retries when the port was taken meanwhile. */
async function launch(
  kind: 'ingest' | 'gateway',
  env: Record<string, string>,
  until: (h: ServiceHandle) => Promise<void>,
): Promise<ServiceHandle> {
  const portVar = kind === 'gateway' ? 'PORT' : 'SLUICE_INGEST_PORT';
  for (let attempt = 1; ; attempt++) {
    const h = await startService(kind, env[portVar] ? env : { ...env, [portVar]: String(await pickPort()) });
    try {
      await until(h);
      return h;
    } catch (err) {
      const taken = h.logs.some((l) => l.includes('EADDRINUSE'));
      if (!taken || attempt >= 3 || env[portVar]) throw err;
      await h.kill();
    }
  }
}

// ------------------------------------------------------------------ probes

const PROBE_PREFIX = 'probe';

function probeId(): string {
  return `${PROBE_PREFIX}${nextId()}`;
}

function wsProbe(e: WsEvent, probes: Set<string>): boolean {
  return e.event === 'delete' && typeof e.payload === 'string' && probes.has(e.payload);
}

function sseProbe(e: SseEvent, probes: Set<string>): boolean {
  return e.event === 'delete' && probes.has(e.data);
}

/** True for a probe event (any test's), so assertions can ignore them. */
export function isProbeWs(e: WsEvent): boolean {
  return e.event === 'delete' && typeof e.payload === 'string' && e.payload.startsWith(PROBE_PREFIX);
}

export function isProbeSse(e: SseEvent): boolean {
  return e.event === 'delete' && e.data.startsWith(PROBE_PREFIX);
}

// ------------------------------------------------------------------ payloads

/** A lowercase ASCII suffix that keeps hashtags and names unique per test. */
export function suffix(): string {
  return randomBytes(4)
    .toString('hex')
    .replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]!);
}

export function accountJson(a: TestAccount): Record<string, unknown> {
  return {
    id: a.accountId,
    username: a.username,
    acct: a.acct,
    display_name: `Display ${a.username}`,
    locked: false,
    bot: false,
    discoverable: true,
    group: false,
    created_at: '2024-01-01T00:00:00.000Z',
    note: '<p>note</p>',
    url: a.domain ? `https://${a.domain}/@${a.username}` : `https://local.test/@${a.username}`,
    avatar: 'https://local.test/avatars/original/missing.png',
    avatar_static: 'https://local.test/avatars/original/missing.png',
    header: 'https://local.test/headers/original/missing.png',
    header_static: 'https://local.test/headers/original/missing.png',
    followers_count: 1,
    following_count: 2,
    statuses_count: 3,
    last_status_at: '2024-01-01',
    emojis: [],
    fields: [],
  };
}

export interface StatusOptions {
  id?: string;
  content?: string;
  media?: boolean;
  language?: string | null;
  mentions?: TestAccount[];
  tags?: string[];
}

/** A status entity as REST::StatusSerializer renders it for public timelines. */
export function statusJson(
  author: TestAccount,
  o: StatusOptions = {},
): Record<string, unknown> & { id: string } {
  const id = o.id ?? nextId();
  return {
    id,
    created_at: new Date().toISOString(),
    in_reply_to_id: null,
    in_reply_to_account_id: null,
    sensitive: false,
    spoiler_text: '',
    visibility: 'public',
    language: o.language === undefined ? 'en' : o.language,
    uri: `https://local.test/users/${author.username}/statuses/${id}`,
    url: `https://local.test/@${author.username}/${id}`,
    replies_count: 0,
    reblogs_count: 0,
    favourites_count: 0,
    edited_at: null,
    content: o.content ?? `<p>Hello &amp; welcome — café ${id} 🎉</p>`,
    reblog: null,
    application: { name: 'Web', website: null },
    account: accountJson(author),
    media_attachments: o.media
      ? [
          {
            id: nextId(),
            type: 'image',
            url: 'https://local.test/media/1.png',
            preview_url: 'https://local.test/media/1s.png',
            remote_url: null,
            description: 'a picture',
            blurhash: 'UFF~tX',
          },
        ]
      : [],
    mentions: (o.mentions ?? []).map((m) => ({
      id: m.accountId,
      username: m.username,
      acct: m.acct,
      url: `https://local.test/@${m.acct}`,
    })),
    tags: (o.tags ?? []).map((t) => ({ name: t, url: `https://local.test/tags/${t}` })),
    emojis: [],
    card: null,
    poll: null,
  };
}

export function notificationJson(
  from: TestAccount,
  status?: Record<string, unknown>,
): Record<string, unknown> & { id: string } {
  return {
    id: nextId(),
    type: status ? 'mention' : 'follow',
    created_at: new Date().toISOString(),
    group_key: `ungrouped-${nextId()}`,
    account: accountJson(from),
    ...(status ? { status } : {}),
  };
}

export function conversationJson(
  with_: TestAccount,
  status: Record<string, unknown>,
): Record<string, unknown> & { id: string } {
  return { id: nextId(), unread: true, accounts: [accountJson(with_)], last_status: status };
}

// ------------------------------------------------------------------ waiting helpers

/** A WS event whose payload (a JSON string) parses to an object with this id. */
export function wsHasId(id: string, event?: string) {
  return (e: WsEvent) =>
    (event === undefined || e.event === event) && typeof e.payload === 'string' && parseId(e.payload) === id;
}

export function sseHasId(id: string, event?: string) {
  return (e: SseEvent) => (event === undefined || e.event === event) && parseId(e.data) === id;
}

function parseId(text: string): string | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(text) as { id?: unknown };
    return typeof v.id === 'string' ? v.id : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until a gauge/counter satisfies `pred`; returns its value. */
export async function waitForMetric(
  g: ServiceHandle,
  name: string,
  labels: Record<string, string>,
  pred: (v: number) => boolean,
  timeoutMs = 5_000,
): Promise<number> {
  let last: number | undefined;
  try {
    return await pollUntil(
      `${name}${JSON.stringify(labels)}`,
      async () => {
        last = await g.metric(name, labels);
        return pred(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 25 },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last value ${last}`);
  }
}

/** Waits until `subscribed:<channel>` exists; returns the milliseconds it took. */
export function waitForSubscribed(s: Stack, channel: string, timeoutMs = 5_000): Promise<number> {
  return waitForKey(s.redis, `subscribed:${channel}`, timeoutMs);
}

/** `{"event":"kill"}` exactly as Rails publishes it. */
export async function railsKill(s: Stack, channel: string): Promise<void> {
  await s.publishRaw(channel, railsMessage('kill'));
}

/** The file descriptor limit must cover the clients a load test opens. */
export async function expectFdLimit(atLeast: number): Promise<void> {
  const { execFileSync } = await import('node:child_process');
  const soft = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
  expect(
    Number.isNaN(soft) || soft >= atLeast,
    `ulimit -n is ${soft}; this test needs at least ${atLeast} (raise it: ulimit -n ${atLeast * 2})`,
  ).toBe(true);
}
