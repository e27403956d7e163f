/** What run.ts hands every scenario. */
import type { Redis } from 'ioredis';
import type { BenchEnv } from '../env.js';
import type { ServiceKind } from '../services/processes.js';

export interface RunContext {
  env: BenchEnv;
  /** Short id of this run: subject prefix, stream, Redis namespace and fixture names derive from it. */
  run: string;
  logDir: string;
  /** Extra node flags for the services (--profile adds --cpu-prof). */
  nodeArgs: string[];
  log: (msg: string) => void;
  /** Entry point of each service (--gateway-main / --ingest-main). */
  mains: Record<ServiceKind, string>;
  /** Extra environment for the services (--service-env KEY=VALUE), e.g. stream limits to try. */
  serviceEnv: Record<string, string>;
}

export interface Check {
  what: string;
  value: number | string;
  limit: string;
  met: boolean;
}

export interface ScenarioOutcome {
  result: Record<string, unknown>;
  human: string;
  /** Targets of the issue, evaluated (informational). */
  checks: Check[];
  /** Correctness: events lost (unconnected clients' events included). */
  lost: number;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Signs that the run was disturbed from outside (a server restarted, a service reconnected):
 * its figures then say little about Sluice.
 */
export function disturbances(
  series: { name: string; gone: boolean }[],
  metricDeltas: Record<string, Record<string, number>>,
): string[] {
  const out: string[] = [];
  for (const s of series) {
    if (s.gone && (s.name === 'nats-server' || s.name === 'redis-server')) {
      out.push(`${s.name} exited during the run (restarted by someone else?)`);
    }
  }
  for (const [svc, d] of Object.entries(metricDeltas)) {
    for (const [k, v] of Object.entries(d)) {
      if (/reconnect/.test(k) && v > 0) out.push(`${svc}: ${k} rose by ${v} during the run`);
    }
  }
  return out;
}

/** An ioredis error listener that logs the first error of each kind once (Redis restarted…). */
export function onRedisError(log: (msg: string) => void): (err: Error) => void {
  const seen = new Set<string>();
  return (err) => {
    if (seen.has(err.message)) return;
    seen.add(err.message);
    log(`redis: ${err.message}`);
  };
}

/** Deletes the run's `subscribed:` keys (`<namespace>:*`); they would expire after 18 min anyway. */
export async function removeNamespaceKeys(redis: Redis, namespace: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}
