/**
 * The system under test for one run: ingest replicas and gateways with a subject prefix,
 * JetStream stream and Redis namespace of the run's own (so concurrent test suites and other
 * runs never see its traffic), registered with the process sampler together with nats-server
 * and redis-server. `stop()` ends the processes and deletes the run's stream.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { BenchEnv } from '../env.js';
import { findPid, type ProcSampler } from '../measure/proc-sampler.js';
import { deleteStream } from '../services/nats-admin.js';
import {
  type Service,
  type ServiceKind,
  startService,
  stopService,
  waitReady,
} from '../services/processes.js';

export interface StackOptions {
  run: string;
  ingests: number;
  gateways: number;
  logDir: string;
  /** Extra node flags for the services (e.g. --cpu-prof). */
  nodeArgs: string[];
  extraEnv: Record<string, string>;
  /** Entry points (default services/<kind>/dist/main.js; another build can be compared). */
  mains: Record<ServiceKind, string>;
}

export interface Stack {
  prefix: string;
  stream: string;
  /** REDIS_NAMESPACE of the run (channels are `<ns>:timeline:…`). */
  namespace: string;
  ingests: Service[];
  gateways: Service[];
  nc: NatsConnection;
  readyMs: Record<string, number>;
  stop(): Promise<void>;
}

export async function startStack(env: BenchEnv, o: StackOptions, sampler: ProcSampler): Promise<Stack> {
  const prefix = `bench_${o.run}`;
  const stream = `BENCH_${o.run.toUpperCase()}`;
  const namespace = `bench_${o.run}`;
  const root = mkdtempSync(join(tmpdir(), 'sluice-bench-root-'));
  const base: Record<string, string> = {
    ...env.passThrough,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    MASTODON_ROOT: root,
    REDIS_URL: env.redisUrl,
    DATABASE_URL: env.databaseUrl,
    NATS_URL: env.natsUrl,
    BIND: '127.0.0.1',
    SLUICE_SUBJECT_PREFIX: prefix,
    SLUICE_STREAM_NAME: stream,
    REDIS_NAMESPACE: namespace,
    SLUICE_DRAIN_SECONDS: '1',
    ...o.extraEnv,
  };
  const nc = await connect({ servers: env.natsUrl.split(','), name: `sluice-bench-${o.run}` });
  const services: Service[] = [];
  const readyMs: Record<string, number> = {};
  const stop = async () => {
    await Promise.all(services.map((s) => stopService(s).catch(() => null)));
    await deleteStream(nc, stream);
    // Ingest's replay stream beside the conduit (shared/src/stream.ts).
    await deleteStream(nc, `${stream}_REPLAY`);
    await nc.close().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  const start = async (kind: ServiceKind, name: string) => {
    const s = await startService(kind, name, base, o.logDir, o.nodeArgs, o.mains[kind]);
    services.push(s);
    sampler.add(name, s.pid);
    return s;
  };
  try {
    const ingests: Service[] = [];
    for (let i = 1; i <= o.ingests; i++) ingests.push(await start('ingest', `ingest-${i}`));
    // The first replica creates the stream; wait for it before starting the rest of the stack.
    for (const s of ingests) readyMs[s.name] = await waitReady(s);
    const gateways: Service[] = [];
    for (let i = 1; i <= o.gateways; i++) gateways.push(await start('gateway', `gateway-${i}`));
    for (const s of gateways) readyMs[s.name] = await waitReady(s);
    const natsPid = findPid(env.natsPidFile, 'nats-server');
    if (natsPid) sampler.add('nats-server', natsPid);
    const redisPid = findPid(env.redisPidFile, 'redis-server');
    if (redisPid) sampler.add('redis-server', redisPid);
    return { prefix, stream, namespace, ingests, gateways, nc, readyMs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
