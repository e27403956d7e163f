import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'dotenv';
import type { Env } from './env.js';

/**
 * Mastodon loads `.env.production` (NODE_ENV=production) or `.env` from its root; real
 * environment variables win, and `NODE_ENV` is taken from the real environment only (Mastodon reads
 * it before loading the file). We do the same from `MASTODON_ROOT` (default: working directory).
 * Returns a merged copy; `process.env` is never modified.
 */
export function withDotenv(env: Env, cwd: string): { env: Env; file: string | null } {
  const root = env['MASTODON_ROOT'] || cwd;
  const file = join(root, env['NODE_ENV'] === 'production' ? '.env.production' : '.env');
  if (!existsSync(file)) return { env, file: null };
  const fromFile = parse(readFileSync(file));
  // Mastodon reads NODE_ENV before loading the file (it picks the file), so the file cannot change it.
  delete fromFile['NODE_ENV'];
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) merged[k] = v;
  return { env: merged, file };
}
