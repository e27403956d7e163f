/**
 * Property: for random relationship graphs and statuses in real PostgreSQL (Mastodon's schema and
 * indexes), the gateway's ONE batched relationship query decides exactly what Mastodon's server
 * decides with its per-user queries (spec §8 step 4): blocks either way, mutes, mentions, and the
 * author's domain. Each case runs in a transaction that is rolled back.
 */
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresFilterStore } from '../../../../services/gateway/dist/filter/store-postgres.js';
import { servers, snowflake } from '../harness/index.js';

const PER_USER_RELATIONSHIPS = `
SELECT 1 FROM blocks
 WHERE (account_id = $1 AND target_account_id = ANY($2::bigint[])) OR (account_id = $3 AND target_account_id = $1)
UNION
SELECT 1 FROM mutes WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])`;
const PER_USER_DOMAIN = 'SELECT 1 FROM account_domain_blocks WHERE account_id = $1 AND domain = $2';

const N = 6;
const idx = fc.integer({ min: 0, max: N - 1 });
const domains = ['a.example', 'b.example', 'xn--caf-dma.example'];

describe('filtering - batched relationship query equals the per-user decision', () => {
  it('property: random graphs, authors, mentions and domains', async () => {
    const client = new pg.Client({ connectionString: servers().databaseUrl });
    await client.connect();
    const store = new PostgresFilterStore(client as unknown as pg.Pool);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(fc.tuple(idx, idx), { maxLength: 14, selector: ([a, b]) => `${a}>${b}` }),
          fc.uniqueArray(fc.tuple(idx, idx), { maxLength: 14, selector: ([a, b]) => `${a}>${b}` }),
          fc.uniqueArray(fc.tuple(idx, fc.constantFrom(...domains)), {
            maxLength: 6,
            selector: ([a, d]) => `${a}>${d}`,
          }),
          idx,
          fc.uniqueArray(idx, { maxLength: 3 }),
          fc.option(fc.constantFrom(...domains), { nil: null }),
          fc.uniqueArray(idx, { minLength: 1, maxLength: N }),
          async (blocks, mutes, domainBlocks, author, mentions, domain, recipientIdx) => {
            await client.query('BEGIN');
            try {
              const ids = Array.from({ length: N }, () => snowflake());
              await client.query(
                `INSERT INTO accounts (id, username) SELECT unnest($1::bigint[]), 'prop_' || unnest($1::bigint[])`,
                [ids],
              );
              for (const [a, b] of blocks)
                await client.query('INSERT INTO blocks (account_id, target_account_id) VALUES ($1, $2)', [
                  ids[a],
                  ids[b],
                ]);
              for (const [a, b] of mutes)
                await client.query('INSERT INTO mutes (account_id, target_account_id) VALUES ($1, $2)', [
                  ids[a],
                  ids[b],
                ]);
              for (const [a, d] of domainBlocks)
                await client.query('INSERT INTO account_domain_blocks (account_id, domain) VALUES ($1, $2)', [
                  ids[a],
                  d,
                ]);
              const recipients = recipientIdx.map((i) => ids[i]!);
              const authorId = ids[author]!;
              const mentionIds = mentions.map((i) => ids[i]!);

              const batched = await store.excludedRecipients({ recipients, authorId, mentionIds, domain });

              for (const user of recipients) {
                const rel = await client.query(PER_USER_RELATIONSHIPS, [
                  user,
                  [authorId, ...mentionIds],
                  authorId,
                ]);
                const dom =
                  domain === null ? { rowCount: 0 } : await client.query(PER_USER_DOMAIN, [user, domain]);
                const mastodonDrops = (rel.rowCount ?? 0) > 0 || (dom.rowCount ?? 0) > 0;
                expect(batched.has(user), `user ${recipients.indexOf(user)}`).toBe(mastodonDrops);
              }
              for (const id of batched) expect(recipients).toContain(id);
            } finally {
              await client.query('ROLLBACK');
            }
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      await client.end();
    }
  });
});
