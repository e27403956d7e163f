/**
 * Where the servers are (decided once by `global-setup.ts`), unique names per test, and
 * stopping/starting a shared server for outage tests.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { onCleanup } from './cleanup.js';

export type ServerKind = 'redis' | 'nats' | 'postgres';

/** How a server can be stopped and started by a test; absent = it cannot. */
export type ServerControl = Partial<
  Record<ServerKind, { via: 'script'; script: string } | { via: 'docker'; containerId: string }>
>;

export interface Servers {
  redisUrl: string;
  natsUrl: string;
  databaseUrl: string;
  /** nats-server monitoring endpoint, when known. */
  natsMonitorUrl: string | null;
  source: Record<ServerKind, 'env' | 'container'>;
  control: ServerControl;
}

declare module 'vitest' {
  export interface ProvidedContext {
    sluiceServers: Servers;
  }
}

/** The repository root (services are started from here). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

let cached: Servers | undefined;
export function servers(): Servers {
  cached ??= inject('sluiceServers');
  if (!cached)
    throw new Error('integration harness: no servers provided (is src/global-setup.ts the globalSetup?)');
  return cached;
}

/** A short random id, safe as a NATS token, a stream name part, a Redis namespace and in channel names. */
export function uniqueId(): string {
  return randomBytes(5).toString('hex');
}

/** A random decimal id the size of a Mastodon snowflake (larger than 2^53: keep it a string). */
export function snowflake(): string {
  const hi = 100_000_000 + (randomBytes(4).readUInt32BE() % 900_000_000);
  const lo = randomBytes(4).readUInt32BE() % 1_000_000_000;
  return `${hi}${String(lo).padStart(9, '0')}`;
}

/**
 * Names that isolate one test from every other test and from other runs on the same servers:
 * a NATS subject prefix, a JetStream stream name, a Redis namespace (used only by tests that pass
 * it to the service as `REDIS_NAMESPACE`), and the matching service environment.
 */
export interface TestScope {
  id: string;
  prefix: string;
  stream: string;
  namespace: string;
  /** `SLUICE_SUBJECT_PREFIX` and `SLUICE_STREAM_NAME` for `startService`. */
  env: { SLUICE_SUBJECT_PREFIX: string; SLUICE_STREAM_NAME: string };
}

export function testScope(): TestScope {
  const id = uniqueId();
  const prefix = `t${id}`;
  const stream = `T${id.toUpperCase()}`;
  // After the test (services are killed first, so none recreates it): delete the stream.
  onCleanup(async () => {
    const { connectNats, deleteStream } = await import('./nats.js');
    const nc = await connectNats('sluice-integration-cleanup');
    try {
      await deleteStream(nc, stream);
    } finally {
      await nc.close();
    }
  });
  return {
    id,
    prefix,
    stream,
    namespace: `ns${id}`,
    env: { SLUICE_SUBJECT_PREFIX: prefix, SLUICE_STREAM_NAME: stream },
  };
}

/** True when `kind` can be stopped and started by tests (local servers script or containers). */
export function canControlServer(kind: ServerKind): boolean {
  return servers().control[kind] !== undefined;
}

const stopped = new Set<ServerKind>();

/** Stops a shared server and returns once it is down. It is started again after the test if the test does not. */
export async function stopServer(kind: ServerKind, timeoutMs = 30_000): Promise<void> {
  stopped.add(kind);
  await controlServer(kind, 'stop', timeoutMs);
}

/** Starts a shared server and returns once it answers. */
export async function startServer(kind: ServerKind, timeoutMs = 30_000): Promise<void> {
  await controlServer(kind, 'start', timeoutMs);
  stopped.delete(kind);
}

/** Starts every server a test stopped and did not start again (called after each test). */
export async function ensureServersRunning(): Promise<void> {
  for (const kind of [...stopped]) await startServer(kind);
}

export async function restartServer(kind: ServerKind, timeoutMs = 60_000): Promise<void> {
  await stopServer(kind, timeoutMs / 2);
  await startServer(kind, timeoutMs / 2);
}

async function controlServer(kind: ServerKind, op: 'stop' | 'start', timeoutMs: number): Promise<void> {
  const c = servers().control[kind];
  if (!c)
    throw new Error(
      `integration harness: ${kind} cannot be ${op}ped here (no SLUICE_SERVICES_SCRIPT, not a container)`,
    );
  if (c.via === 'script') {
    await run(c.script, [op, kind], timeoutMs);
    return;
  }
  await run(
    'docker',
    op === 'stop' ? ['stop', '-t', '10', c.containerId] : ['start', c.containerId],
    timeoutMs,
  );
  if (op === 'start') await waitForServer(kind, timeoutMs);
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else res(stdout);
    });
  });
}

/** After `docker start`: the script waits by itself, a container needs a check. */
async function waitForServer(kind: ServerKind, timeoutMs: number): Promise<void> {
  const s = servers();
  const url = new URL(kind === 'redis' ? s.redisUrl : kind === 'nats' ? s.natsUrl : s.databaseUrl);
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const sock = connect(Number(url.port), url.hostname, () => {
        sock.destroy();
        res(true);
      });
      sock.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`${kind} did not answer on ${url.host} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
