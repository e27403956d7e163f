/**
 * Memory per idle connection, by transport, on the gateway's memory seams (no Redis, NATS or
 * PostgreSQL involved), to see where `t3`'s bytes go:
 *
 *   node --expose-gc --max-semi-space-size=8 bench/dist/memory/conn-memory.js [--count 4000] [--snapshot DIR]
 *
 * (with `NATS_URL` from `.run/env` the gateway subscribes real NATS, one subscription per channel)
 *
 * The gateway (`services/gateway/dist/testing.js`) runs in this process; the clients run in a
 * child process so that their objects do not count. After each batch (WebSocket `user` streams,
 * then SSE `user` streams, kept open) it runs a full GC and reads RSS and the V8 heap; with
 * `--snapshot DIR` it writes a heap snapshot after each phase (`gateway-baseline`, `-websocket`,
 * `-eventsource`); `heap-diff.js` says what grew between two of them, by constructor.
 * Prints JSON and one human line.
 */
import { fork } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { getHeapSnapshot } from 'node:v8';
import { connect } from '@nats-io/transport-node';
import { trace } from '@opentelemetry/api';
import { createLogger } from '@sluice/shared';
import { WebSocket } from 'ws';
import { arg, settle } from './settle.js';

type Kind = 'websocket' | 'eventsource';

const here = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(here, '../../../..');

/** Child: opens `count` connections of `kind` and reports when all are open; keeps them. */
async function clients(): Promise<void> {
  const keep: unknown[] = [];
  process.on('message', async (m: { kind: Kind; count: number; port: number; offset: number }) => {
    let opened = 0;
    let failed = 0;
    await new Promise<void>((done) => {
      let started = 0;
      const next = () => {
        while (started < m.count && started - opened - failed < 200) {
          const token = `tok-${m.offset + started}`;
          started++;
          const ok = () => {
            opened++;
            if (opened + failed === m.count) done();
            else next();
          };
          const fail = () => {
            failed++;
            if (opened + failed === m.count) done();
            else next();
          };
          if (m.kind === 'websocket') {
            const ws = new WebSocket(
              `ws://127.0.0.1:${m.port}/api/v1/streaming?stream=user&access_token=${token}`,
              {
                perMessageDeflate: false,
              },
            );
            ws.once('open', ok);
            ws.once('error', fail);
            keep.push(ws);
          } else {
            const req = request({
              host: '127.0.0.1',
              port: m.port,
              path: '/api/v1/streaming/user',
              agent: false,
              headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
            });
            req.once('response', (res) => {
              res.resume();
              if (res.statusCode === 200) ok();
              else fail();
            });
            req.once('error', fail);
            req.end();
            keep.push(req);
          }
        }
      };
      next();
    });
    process.send!({ opened, failed });
  });
}

interface Reading {
  rssKb: number;
  heapUsedKb: number;
  heapTotalKb: number;
  externalKb: number;
}

async function reading(): Promise<Reading> {
  const m = await settle();
  return {
    rssKb: m.rss / 1024,
    heapUsedKb: m.heapUsed / 1024,
    heapTotalKb: m.heapTotal / 1024,
    externalKb: m.external / 1024,
  };
}

/** The gateway's modules, from its build (the bench does not depend on the gateway package). */
async function gatewayModule<T>(path: string): Promise<T> {
  return (await import(join(REPO_ROOT, 'services/gateway/dist', path))) as T;
}

/**
 * A gateway as in production but on memory seams for auth: one account and token per client
 * (`tok-<i>`), so every connection holds its own channels as in `t3`. With `NATS_URL` set the
 * bus is real NATS (each channel a NATS subscription, as in production); otherwise memory.
 */
async function startGateway(count: number): Promise<{ port: number; close: () => Promise<void> }> {
  type Ctor = new (...args: unknown[]) => unknown;
  const testing = await gatewayModule<{
    gatewayConfig: () => object;
    memoryStore: () => { addToken: (t: object) => unknown };
  }>('testing.js');
  const { Gateway } = await gatewayModule<{ Gateway: Ctor }>('gateway.js');
  const { MemoryBus, NatsBus } = await gatewayModule<{ MemoryBus: Ctor; NatsBus: Ctor }>(
    'subscribe/index.js',
  );
  // Logs are written and dropped, as a gateway writing to stdout would (the test harness's own
  // logger keeps every line, which would count as connection memory).
  const logger = createLogger({ name: 'streaming', level: 'info', destination: { write: () => {} } });
  const store = testing.memoryStore();
  for (let i = 0; i < 2 * count; i++) {
    store.addToken({
      token: `tok-${i}`,
      id: String(100_000 + i),
      accountId: String(500_000 + i),
      scopes: 'read',
    });
  }
  const natsUrl = process.env['NATS_URL'];
  const nc = natsUrl ? await connect({ servers: natsUrl.split(','), name: 'sluice-conn-memory' }) : null;
  const bus = nc ? new NatsBus(nc, logger) : new MemoryBus();
  const gateway = new Gateway({
    gateway: testing.gatewayConfig(),
    interest: { snapshotMs: 60_000 },
    prefix: `connmem_${process.pid}`,
    logger,
    bus,
    store,
    tracer: trace.getTracer('conn-memory'),
    tracing: false,
    gatewayId: 'conn-memory',
  }) as { start: () => Promise<string>; stop: () => void; closeAllConnections: () => void };
  const where = await gateway.start();
  return {
    port: Number(where.split(':').pop()),
    close: async () => {
      gateway.stop();
      gateway.closeAllConnections();
      await nc?.close();
    },
  };
}

async function main(): Promise<void> {
  const count = Number(arg('count') ?? 4000);
  const snapshotDir = arg('snapshot');
  const gw = await startGateway(count);
  const child = fork(here, ['--role', 'clients'], { stdio: 'inherit' });
  const open = (kind: Kind) =>
    new Promise<{ opened: number; failed: number }>((res) => {
      child.once('message', (m) => res(m as { opened: number; failed: number }));
      child.send({ kind, count, port: gw.port, offset: kind === 'websocket' ? 0 : count });
    });
  const snapshots: Record<string, string> = {};
  const snapshot = async (phase: string) => {
    if (!snapshotDir) return;
    const file = join(snapshotDir, `gateway-${phase}.heapsnapshot`);
    await pipeline(getHeapSnapshot(), createWriteStream(file));
    snapshots[phase] = file;
  };
  const readings: Record<string, Reading> = { baseline: await reading() };
  await snapshot('baseline');
  const opened: Record<string, number> = {};
  for (const kind of ['websocket', 'eventsource'] as const) {
    const r = await open(kind);
    opened[kind] = r.opened;
    readings[kind] = await reading();
    await snapshot(kind);
  }
  const per = (from: Reading, to: Reading, n: number) => ({
    rssKb: round((to.rssKb - from.rssKb) / n),
    heapUsedKb: round((to.heapUsedKb - from.heapUsedKb) / n),
    heapTotalKb: round((to.heapTotalKb - from.heapTotalKb) / n),
    externalKb: round((to.externalKb - from.externalKb) / n),
  });
  const result = {
    count,
    opened,
    node: process.version,
    execArgv: process.execArgv,
    readings,
    perConnection: {
      websocket: per(readings['baseline']!, readings['websocket']!, opened['websocket']!),
      eventsource: per(readings['websocket']!, readings['eventsource']!, opened['eventsource']!),
    },
  };
  if (snapshotDir) (result as Record<string, unknown>)['snapshots'] = snapshots;
  console.log(JSON.stringify(result));
  const p = result.perConnection;
  console.log(
    `conn-memory: per WebSocket ${p.websocket.rssKb} KB RSS (${p.websocket.heapUsedKb} KB heap used, ${p.websocket.heapTotalKb} KB heap total); per SSE ${p.eventsource.rssKb} KB RSS (${p.eventsource.heapUsedKb} KB heap used, ${p.eventsource.heapTotalKb} KB heap total); ${count} of each`,
  );
  child.kill();
  await gw.close();
  process.exit(0);
}

const round = (n: number) => Math.round(n * 100) / 100;

if (arg('role') === 'clients') void clients();
else void main();
