/**
 * Where the servers are: the process environment, else `.run/env` (written by
 * `scripts/services.sh up`), else the defaults of that script. Read once in `run.ts`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/dist/env.js → ../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BenchEnv {
  redisUrl: string;
  databaseUrl: string;
  natsUrl: string;
  /** nats-server monitoring (`-m` port), for /varz. */
  natsMonitorUrl: string;
  /** Variables passed on to the services we start (PATH, HOME, …). */
  passThrough: Record<string, string>;
  natsPidFile: string;
  redisPidFile: string;
}

const PASS_THROUGH = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];

function readRunEnv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^['"]|['"]$/g, '');
  }
  return out;
}

export function loadBenchEnv(env: NodeJS.ProcessEnv): BenchEnv {
  const run = readRunEnv(join(REPO_ROOT, '.run', 'env'));
  const pick = (name: string, def: string) => env[name] || run[name] || def;
  const passThrough: Record<string, string> = {};
  for (const k of PASS_THROUGH) {
    const v = env[k];
    if (v !== undefined) passThrough[k] = v;
  }
  return {
    redisUrl: pick('REDIS_URL', 'redis://127.0.0.1:16379/0'),
    databaseUrl: pick('DATABASE_URL', 'postgres://postgres@127.0.0.1:15432/mastodon_sluice'),
    natsUrl: pick('NATS_URL', 'nats://127.0.0.1:14222'),
    natsMonitorUrl: pick('NATS_MONITOR_URL', 'http://127.0.0.1:18222'),
    passThrough,
    natsPidFile: join(REPO_ROOT, '.run', 'nats.pid'),
    redisPidFile: join(REPO_ROOT, '.run', 'redis.pid'),
  };
}
