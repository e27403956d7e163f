/**
 * Fixtures for tests on the memory seams: a whole gateway with a memory bus, auth store and
 * replay source, and helpers to publish events the way the stream republishes them.
 */

import { Writable } from 'node:stream';
import { type Tracer, trace } from '@opentelemetry/api';
import { channelToSubject, createLogger, type GatewayConfig, type Logger } from '@sluice/shared';
import { MemoryAuthStore } from './authorise/index.js';
import { createFilter, type EventFilter } from './filter/index.js';
import { Gateway } from './gateway.js';
import { GatewayMetrics } from './metrics.js';
import type { AuthContext } from './model.js';
import { Pipeline } from './pipeline.js';
import {
  Hub,
  MemoryBus,
  MemoryHeaders,
  MemoryReplay,
  SubjectRegistry,
  Subscriber,
} from './subscribe/index.js';
import { Connections } from './write/index.js';

export const PREFIX = 'test';

/**
 * Resolves once `cond()` holds, checked every 5 ms (for state the tests can only poll: counts,
 * received bytes); rejects after `ms`.
 */
export async function waitUntil(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A logger that keeps its lines (JSON objects) instead of printing them. */
export function memoryLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: createLogger({ name: 'streaming', level: 'debug', destination }), lines };
}

export function gatewayConfig(over: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    port: 0,
    bind: '127.0.0.1',
    trustedProxies: ['loopback'],
    sendBufferBytes: 1024 * 1024,
    drainMs: 0,
    authBatchMax: 500,
    sseHeartbeatMs: 15_000,
    wsPingMs: 30_000,
    wsMaxPayload: 64 * 1024,
    glitch: false,
    authBatchWindowMs: 0,
    filterCacheMs: 600_000,
    filterCacheAccounts: 1000,
    filterTimeoutMs: 2000,
    gapRepairMaxEvents: 10_000,
    idleGcMs: 0,
    ...over,
  };
}

export function auth(over: Partial<AuthContext> = {}): AuthContext {
  return {
    accessTokenId: '11',
    accountId: '101',
    scopes: ['read'],
    chosenLanguages: null,
    permissions: 0n,
    ...over,
  };
}

/** Tokens: `tok-read` (account 101, token 11), `tok-statuses`, `tok-notif`, `tok-profile`, `tok-bob` (102, en only). */
export function memoryStore(): MemoryAuthStore {
  const store = new MemoryAuthStore();
  store
    .addToken({ token: 'tok-read', id: '11', accountId: '101', scopes: 'read write' })
    .addToken({ token: 'tok-statuses', id: '12', accountId: '101', scopes: 'read:statuses' })
    .addToken({ token: 'tok-notif', id: '13', accountId: '101', scopes: 'read:notifications' })
    .addToken({ token: 'tok-profile', id: '14', accountId: '101', scopes: 'profile' })
    .addToken({ token: 'tok-bob', id: '15', accountId: '102', scopes: 'read', chosenLanguages: ['en'] })
    .addToken({ token: 'tok-null', id: '18', accountId: '101', scopes: null })
    .addToken({ token: 'tok-revoked', id: '19', accountId: '101', scopes: 'read', revoked: true });
  store.lists.set('42', '101');
  store.lists.set('43', '102');
  return store;
}

export interface TestGateway {
  gateway: Gateway;
  bus: MemoryBus;
  store: MemoryAuthStore;
  replay: MemoryReplay;
  lines: Record<string, unknown>[];
  /** Publishes on `ev` as RePublish would (with a `Nats-Sequence` from the memory stream). */
  publish(channel: string, event: string, payload: string, headers?: Record<string, string>): number;
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startTestGateway(
  opts: {
    config?: Partial<GatewayConfig>;
    filters?: EventFilter[];
    withReplay?: boolean;
    logger?: Logger;
  } = {},
): Promise<TestGateway> {
  const bus = new MemoryBus();
  const store = memoryStore();
  const replay = new MemoryReplay();
  const memory = memoryLogger();
  const logger = opts.logger ?? memory.logger;
  const lines = memory.lines;
  const gateway = new Gateway({
    gateway: gatewayConfig(opts.config),
    interest: { snapshotMs: 60_000 },
    prefix: PREFIX,
    logger,
    bus,
    store,
    ...(opts.withReplay === false ? {} : { replay }),
    tracer: trace.getTracer('test'),
    tracing: false,
    gatewayId: 'test-gateway',
    ...(opts.filters ? { filters: opts.filters } : {}),
  });
  const where = await gateway.start();
  const port = Number(where.split(':').pop());
  return {
    gateway,
    bus,
    store,
    replay,
    lines,
    port,
    url: `http://127.0.0.1:${port}`,
    publish(channel, event, payload, headers = {}) {
      const headerMap = new MemoryHeaders({ 'Sluice-Event': event, ...headers });
      const stored = replay.append(channel, payload, headerMap);
      const live = new MemoryHeaders({
        'Sluice-Event': event,
        ...headers,
        'Nats-Sequence': String(stored.seq),
      });
      bus.emit(channelToSubject(PREFIX, 'ev', channel), payload, live);
      return stored.seq;
    },
    async close() {
      gateway.stop();
      gateway.closeAllConnections();
      await new Promise<void>((r) => gateway.server.close(() => r()));
    },
  };
}

/**
 * The pipeline on memory seams, without HTTP: bus → registry → hub → pipeline → connections.
 * Shared by the pipeline's unit tests, its tracing test and its micro-benchmark.
 */
export function pipelineHarness(
  opts: { filters?: EventFilter[]; sendBufferBytes?: number; tracer?: Tracer; tracing?: boolean } = {},
) {
  const bus = new MemoryBus();
  const { logger } = memoryLogger();
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  let pipeline!: Pipeline;
  const registry = new SubjectRegistry({
    bus,
    prefix: PREFIX,
    logger,
    onMessage: (c, m) => pipeline.deliver(c, m),
  });
  const hub = new Hub(registry);
  const subscriber = new Subscriber({ hub, authoriser: {} as never, metrics, logger });
  const connections = new Connections({
    metrics,
    logger,
    sendBufferBytes: opts.sendBufferBytes ?? 1 << 20,
    onClosed: (c) => subscriber.release(c),
  });
  pipeline = new Pipeline({
    hub,
    filter: createFilter({ glitch: false, ...(opts.filters ? { extra: opts.filters } : {}) }),
    connections,
    metrics,
    logger,
    tracer: opts.tracer ?? trace.getTracer('test'),
    tracing: opts.tracing ?? false,
  });
  return { bus, logger, metrics, registry, hub, subscriber, connections, pipeline };
}
