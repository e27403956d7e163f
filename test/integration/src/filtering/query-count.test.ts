/**
 * The cost of filtering does not grow with the number of connected users (issue 4): with 500
 * users on `public:local`, one status costs the gateway at most two SQL statements (relationships
 * for everyone at once + keyword filters for accounts not cached yet), and a second status by the
 * same author costs no more (keyword filters cached: one statement). Mastodon's server would run
 * 500–1,500.
 *
 * Statements are counted with pg_stat_statements (scripts/services.sh preloads it) in a database of
 * this file's own, so statistics are reset and read for that database only and no other test's
 * queries can be counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFdLimit, type Stack, startStack, suffix } from '../gateway/support.js';
import type { WsClient } from '../harness/clients.js';
import { IsolatedDatabase, nextId, randomToken, type TestAccount } from '../harness/fixtures.js';
import { pgQuery } from '../harness/postgres.js';
import { railsPublish } from '../harness/redis.js';
import { delay } from '../harness/wait.js';
import { addFilter, filterResult, status, withFiltered, wsPayloads } from './support.js';

const USERS = 500;
/** Connected besides the 500: users the status's author or mention is related to (the query returns them). */
const RELATED = 40;
const CHANNEL = 'timeline:public:local';

interface BulkUser {
  accountId: string;
  token: string;
}

/** Accounts, users and tokens for `n` local users in three statements. */
async function bulkUsers(s: Stack, n: number): Promise<BulkUser[]> {
  const accounts = Array.from({ length: n }, () => nextId());
  const users = Array.from({ length: n }, () => nextId());
  const tokens = Array.from({ length: n }, () => randomToken());
  const tokenIds = Array.from({ length: n }, () => nextId());
  const names = accounts.map((id) => `bulk${id}`);
  await s.fx.query(
    `INSERT INTO accounts (id, username, domain) SELECT * FROM unnest($1::bigint[], $2::varchar[], $3::varchar[])`,
    [accounts, names, accounts.map(() => null)],
  );
  await s.fx.query(
    `INSERT INTO users (id, account_id, email, confirmed_at)
     SELECT u, a, 'bulk' || a || '@example.test', now() FROM unnest($1::bigint[], $2::bigint[]) AS t(u, a)`,
    [users, accounts],
  );
  await s.fx.query(
    `INSERT INTO oauth_access_tokens (id, token, scopes, resource_owner_id)
     SELECT i, t, 'read', u FROM unnest($1::bigint[], $2::varchar[], $3::bigint[]) AS x(i, t, u)`,
    [tokenIds, tokens, users],
  );
  return accounts.map((accountId, i) => ({ accountId, token: tokens[i]! }));
}

async function bulkInsert(s: Stack, table: 'blocks' | 'mutes', pairs: [string, string][]): Promise<void> {
  if (pairs.length === 0) return;
  await s.fx.query(
    `INSERT INTO ${table} (id, account_id, target_account_id) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])`,
    [pairs.map(() => nextId()), pairs.map((p) => p[0]), pairs.map((p) => p[1])],
  );
}

/** Probes the channel until every client received one (the subscriptions are live end to end). */
async function readyAll(s: Stack, clients: WsClient[], channel: string, timeoutMs = 20_000): Promise<void> {
  const probes = new Set<string>();
  let settled = false;
  const all = Promise.all(
    clients.map((c) =>
      c.waitForEvent(
        (e) => e.event === 'delete' && typeof e.payload === 'string' && probes.has(e.payload),
        timeoutMs,
        'a probe',
      ),
    ),
  ).finally(() => {
    settled = true;
  });
  while (!settled) {
    const id = `probe${nextId()}`;
    probes.add(id);
    await railsPublish(s.redis, channel, 'delete', id);
    await Promise.race([all.catch(() => {}), delay(200)]);
  }
  await all;
}

async function connectAll(s: Stack, users: BulkUser[]): Promise<WsClient[]> {
  const out: WsClient[] = [];
  for (let i = 0; i < users.length; i += 100) {
    const batch = await Promise.all(users.slice(i, i + 100).map((u) => s.ws({ token: u.token })));
    for (const ws of batch) ws.subscribe('public:local');
    out.push(...batch);
  }
  return out;
}

interface Counts {
  relationship: number;
  keyword: number;
  /** Every statement the gateway ran in its database meanwhile. */
  total: number;
  statements: { calls: number; query: string }[];
}

async function resetStatements(dbName: string): Promise<void> {
  await pgQuery(`SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = $1), 0)`, [
    dbName,
  ]);
}

async function readStatements(dbName: string): Promise<Counts> {
  const { rows } = await pgQuery<{ calls: string; query: string }>(
    `SELECT calls, query FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1) ORDER BY calls DESC`,
    [dbName],
  );
  const statements = rows.map((r) => ({
    calls: Number(r.calls),
    query: r.query.replace(/\s+/g, ' ').trim(),
  }));
  const sum = (pred: (q: string) => boolean) =>
    statements.filter((r) => pred(r.query)).reduce((n, r) => n + r.calls, 0);
  return {
    relationship: sum((q) => /FROM blocks/i.test(q)),
    keyword: sum((q) => /FROM custom_filter_keywords/i.test(q)),
    total: sum(() => true),
    statements,
  };
}

describe('filtering - statements per status', () => {
  let db: IsolatedDatabase;
  beforeAll(async () => {
    const ext = await pgQuery(`SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'`);
    const libs = await pgQuery<{ shared_preload_libraries: string }>('SHOW shared_preload_libraries');
    if (ext.rowCount !== 1 || !libs.rows[0]?.shared_preload_libraries.includes('pg_stat_statements'))
      throw new Error(
        'pg_stat_statements is not available on the test server (run scripts/services.sh up: it preloads the library and creates the extension)',
      );
    db = await IsolatedDatabase.create();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it(`${USERS} users on public:local: at most 2 statements for a status, no more for the next one`, async () => {
    await expectFdLimit(4 * (USERS + RELATED));
    const s = await startStack({ databaseUrl: db.url });
    const author = await s.fx.createAccount();
    const mentioned = await s.fx.createAccount();
    const bystander = await s.fx.createAccount();
    const users = await bulkUsers(s, USERS);
    const related = await bulkUsers(s, RELATED);

    // Relationships: the 40 related users are what the query returns (block the author, mute the
    // author, are blocked by the author, block the mentioned account). Among the 500, many have
    // blocks, mutes and domain blocks that do not involve this status.
    const q = RELATED / 4;
    await bulkInsert(s, 'blocks', [
      ...related.slice(0, q).map((u): [string, string] => [u.accountId, author.accountId]),
      ...related.slice(2 * q, 3 * q).map((u): [string, string] => [author.accountId, u.accountId]),
      ...related.slice(3 * q).map((u): [string, string] => [u.accountId, mentioned.accountId]),
      ...users.slice(0, 100).map((u): [string, string] => [u.accountId, bystander.accountId]),
      ...users.slice(400, 420).map((u): [string, string] => [bystander.accountId, u.accountId]),
      [author.accountId, bystander.accountId],
    ]);
    await bulkInsert(s, 'mutes', [
      ...related.slice(q, 2 * q).map((u): [string, string] => [u.accountId, author.accountId]),
      ...users.slice(100, 150).map((u): [string, string] => [u.accountId, bystander.accountId]),
      ...users.slice(150, 160).map((u): [string, string] => [mentioned.accountId, u.accountId]),
    ]);
    for (const u of users.slice(160, 190)) await s.fx.domainBlock(u.accountId, 'evil.example');
    // Keyword filters: 20 match the status, 20 do not.
    const matching = new Map<string, Awaited<ReturnType<typeof addFilter>>>();
    for (const u of users.slice(200, 220))
      matching.set(
        u.accountId,
        await addFilter(s.fx, u.accountId, { phrase: 'orchids', keywords: [{ keyword: 'orchid' }] }),
      );
    for (const u of users.slice(220, 240))
      await addFilter(s.fx, u.accountId, { phrase: 'tulips', keywords: [{ keyword: 'tulip' }] });

    const clients = await connectAll(s, users);
    const relatedClients = await connectAll(s, related);
    await readyAll(s, [...clients, ...relatedClients], CHANNEL);

    const measured: Counts[] = [];
    for (const n of [1, 2]) {
      const st = status(author, {
        content: `<p>Status ${n}: an orchid for @${mentioned.username} ${suffix()}</p>`,
        mentions: [mentioned as TestAccount],
      });
      const droppedBefore = await s.gateway.metric('sluice_gateway_filter_dropped_total', {
        reason: 'relationship',
      });
      const variantsBefore = await s.gateway.metric('sluice_gateway_filter_variants_total');
      await resetStatements(db.name);

      expect(await s.publish(CHANNEL, 'update', st)).toBe(true);
      const marker = `mark${nextId()}`;
      expect(await s.publish(CHANNEL, 'delete', marker)).toBe(true);
      await Promise.all(
        [...clients, ...relatedClients].map((c) =>
          c.waitForEvent(
            (e) => e.event === 'delete' && e.payload === marker,
            20_000,
            `marker after status ${n}`,
          ),
        ),
      );
      const counts = await readStatements(db.name);
      measured.push(counts);

      // Every one of the 500 got the status once, with its own `filtered`; the related 40 got nothing.
      const plain = withFiltered(st, []);
      const got = users.map((_u, i) => ({ user: i, payloads: wsPayloads(clients[i]!, 'update', st.id) }));
      const want = users.map((u, i) => {
        const f = matching.get(u.accountId);
        return { user: i, payloads: [f ? withFiltered(st, [filterResult(f, 'orchid')]) : plain] };
      });
      expect(got).toEqual(want);
      expect(relatedClients.flatMap((c) => wsPayloads(c, 'update', st.id))).toEqual([]);
      expect(
        (await s.gateway.metric('sluice_gateway_filter_dropped_total', { reason: 'relationship' })) -
          droppedBefore,
      ).toBe(RELATED);
      // Only the 20 users whose filters matched got an individual payload.
      expect((await s.gateway.metric('sluice_gateway_filter_variants_total')) - variantsBefore).toBe(20);
    }

    const [first, second] = measured as [Counts, Counts];
    console.info(
      `statements per status with ${USERS + RELATED} connected users:\n` +
        measured
          .map(
            (c, i) =>
              `  status ${i + 1}: relationship ${c.relationship}, keyword ${c.keyword}, all gateway statements ${c.total}\n` +
              c.statements.map((r) => `    ${r.calls} × ${r.query.slice(0, 110)}`).join('\n'),
          )
          .join('\n'),
    );
    expect(first.relationship).toBe(1);
    expect(first.keyword).toBe(1);
    expect(first.relationship + first.keyword).toBeLessThanOrEqual(2);
    expect(first.total).toBeLessThanOrEqual(2);
    expect(second.relationship).toBe(1);
    expect(second.keyword).toBe(0);
    expect(second.total).toBeLessThanOrEqual(first.total);
    expect(second.total).toBe(1);
  });
});
