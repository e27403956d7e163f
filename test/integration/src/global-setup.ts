/**
 * Vitest globalSetup: decides which Redis, NATS and Postgres the integration tests use, checks
 * that they answer, and hands their URLs to the test files (`provide` here, `inject` in
 * `harness/env.ts`).
 *
 * Per server, in this order:
 *   1. the URL from the environment (`REDIS_URL`, `NATS_URL`, `DATABASE_URL`; what
 *      `source .run/env` gives after `scripts/services.sh up`);
 *   2. otherwise a testcontainers container, if a container runtime answers;
 *   3. otherwise the run fails with a message saying how to start the local servers.
 *
 * Servers named by the environment can be stopped and started by the tests (outage tests) only
 * when `SLUICE_SERVICES_SCRIPT` names the script that runs them; containers started here are
 * stopped and started with the docker CLI when it exists. Otherwise those tests are skipped.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import type { ServerControl, Servers } from './harness/env.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCHEMA = resolve(REPO_ROOT, 'db/mastodon-schema.sql');
const HINT =
  'Start the local servers and export their URLs first:\n' +
  '    scripts/services.sh up && source .run/env\n' +
  '(or run the tests where a Docker-compatible container runtime answers, so testcontainers can start them).';

type Kind = 'redis' | 'nats' | 'postgres';
interface Started {
  url: string;
  monitorUrl?: string;
  containerId?: string;
  stop: () => Promise<void>;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fromEnv: Partial<Record<Kind, string>> = {
    redis: nonEmpty(process.env['REDIS_URL']),
    nats: nonEmpty(process.env['NATS_URL']),
    postgres: nonEmpty(process.env['DATABASE_URL']),
  };
  const missing = (Object.keys(fromEnv) as Kind[]).filter((k) => !fromEnv[k]);
  const started: Partial<Record<Kind, Started>> = {};
  const teardown = async () => {
    await Promise.allSettled(Object.values(started).map((s) => s.stop()));
  };

  if (missing.length > 0) {
    const runtime = await containerRuntime();
    if (!runtime.ok) {
      throw new Error(
        `integration tests: no ${missing.map(envName).join(', ')} in the environment, and no container runtime ` +
          `answered (${runtime.reason}).\n${HINT}`,
      );
    }
    try {
      for (const kind of missing) started[kind] = await startContainer(kind);
    } catch (err) {
      await teardown();
      throw new Error(`integration tests: starting containers failed: ${(err as Error).message}\n${HINT}`);
    }
  }

  const servers: Servers = {
    redisUrl: fromEnv.redis ?? started.redis!.url,
    natsUrl: fromEnv.nats ?? started.nats!.url,
    databaseUrl: fromEnv.postgres ?? started.postgres!.url,
    natsMonitorUrl: fromEnv.nats
      ? (nonEmpty(process.env['NATS_MONITOR_URL']) ?? null)
      : (started.nats?.monitorUrl ?? null),
    source: {
      redis: fromEnv.redis ? 'env' : 'container',
      nats: fromEnv.nats ? 'env' : 'container',
      postgres: fromEnv.postgres ? 'env' : 'container',
    },
    control: serverControl(fromEnv, started),
  };

  try {
    await preflight(servers);
  } catch (err) {
    await teardown();
    throw err;
  }
  project.provide('sluiceServers', servers);
  return teardown;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function envName(kind: Kind): string {
  return { redis: 'REDIS_URL', nats: 'NATS_URL', postgres: 'DATABASE_URL' }[kind];
}

function serverControl(
  fromEnv: Partial<Record<Kind, string>>,
  started: Partial<Record<Kind, Started>>,
): ServerControl {
  const script = nonEmpty(process.env['SLUICE_SERVICES_SCRIPT']);
  const control: ServerControl = {};
  for (const kind of ['redis', 'nats', 'postgres'] as const) {
    if (fromEnv[kind]) {
      if (script) control[kind] = { via: 'script', script };
    } else if (started[kind]?.containerId) {
      control[kind] = { via: 'docker', containerId: started[kind].containerId };
    }
  }
  return control;
}

async function containerRuntime(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await withTimeout(getContainerRuntimeClient(), 15_000, 'container runtime detection');
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}

/** A free TCP port on loopback, so a container keeps its host port across stop/start. */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

async function startContainer(kind: Kind): Promise<Started> {
  const tc = await import('testcontainers');
  if (kind === 'redis') {
    const { RedisContainer } = await import('@testcontainers/redis');
    const c = await new RedisContainer('redis:7.2-alpine')
      .withExposedPorts({ container: 6379, host: await freePort() })
      .start();
    return { url: c.getConnectionUrl(), containerId: c.getId(), stop: async () => void (await c.stop()) };
  }
  if (kind === 'postgres') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const c = await new PostgreSqlContainer('postgres:15-alpine')
      .withDatabase('mastodon_sluice')
      .withUsername('postgres')
      .withPassword('postgres')
      .withExposedPorts({ container: 5432, host: await freePort() })
      .start();
    const url = c.getConnectionUri();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(readFileSync(SCHEMA, 'utf8'));
    } finally {
      await client.end();
    }
    return { url, containerId: c.getId(), stop: async () => void (await c.stop()) };
  }
  // NATS 2.10: above the 2.9 floor the project supports, below what production runs.
  const c = await new tc.GenericContainer('nats:2.10-alpine')
    .withCommand(['-js', '-m', '8222'])
    .withExposedPorts(
      { container: 4222, host: await freePort() },
      { container: 8222, host: await freePort() },
    )
    .withWaitStrategy(tc.Wait.forLogMessage(/Server is ready/))
    .start();
  return {
    url: `nats://${c.getHost()}:${c.getMappedPort(4222)}`,
    monitorUrl: `http://${c.getHost()}:${c.getMappedPort(8222)}`,
    containerId: c.getId(),
    stop: async () => void (await c.stop()),
  };
}

/** Fails the run early, with one clear message, when a server does not answer. */
async function preflight(s: Servers): Promise<void> {
  const problems: string[] = [];
  const redis = new Redis(s.redisUrl, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await withTimeout(redis.connect(), 4000, 'Redis connect');
    const pong = await withTimeout(redis.ping(), 3000, 'Redis PING');
    if (pong !== 'PONG') problems.push(`Redis at ${s.redisUrl} answered ${pong} to PING`);
  } catch (err) {
    problems.push(`Redis at ${s.redisUrl}: ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }

  try {
    const nc = await connect({
      servers: s.natsUrl,
      timeout: 3000,
      maxReconnectAttempts: 0,
      name: 'sluice-integration-preflight',
    });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 3000 });
      await jsm.getAccountInfo();
    } catch (err) {
      problems.push(
        `NATS at ${s.natsUrl} has no JetStream (start nats-server with -js): ${(err as Error).message}`,
      );
    } finally {
      await nc.close();
    }
  } catch (err) {
    problems.push(`NATS at ${s.natsUrl}: ${(err as Error).message}`);
  }

  const client = new pg.Client({ connectionString: s.databaseUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const r = await client.query<{ ok: boolean }>(
      `SELECT to_regclass('public.oauth_access_tokens') IS NOT NULL AS ok`,
    );
    if (!r.rows[0]?.ok)
      problems.push(
        `Postgres at ${redactPg(s.databaseUrl)} has no Mastodon schema (run scripts/services.sh up)`,
      );
  } catch (err) {
    problems.push(`Postgres at ${redactPg(s.databaseUrl)}: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }

  if (problems.length > 0) {
    throw new Error(`integration tests: servers not usable:\n  - ${problems.join('\n  - ')}\n${HINT}`);
  }
}

function redactPg(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:[Redacted]@');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
