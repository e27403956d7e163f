/**
 * A minimal Postgres client for tests (the Mastodon-shaped database from `db/mastodon-schema.sql`).
 * Fixtures (accounts, tokens, lists, blocks…) belong in `fixtures.ts`.
 */
import pg from 'pg';
import { servers } from './env.js';

const open = new Set<pg.Pool>();

/** A small pool on the test database; ended after each test by `setup.ts` if the test did not end it. */
export function pgPool(max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: servers().databaseUrl, max, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {});
  open.add(pool);
  const end = pool.end.bind(pool);
  pool.end = (async () => {
    open.delete(pool);
    await end();
  }) as typeof pool.end;
  return pool;
}

/** One query on a short-lived connection. */
export async function pgQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: servers().databaseUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

export async function closeAllPg(): Promise<void> {
  await Promise.allSettled([...open].map((p) => p.end()));
  open.clear();
}
