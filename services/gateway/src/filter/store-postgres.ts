import type { Pool } from 'pg';
import type { FilterRow } from './keyword-matcher.js';
import type { FilterStore, RelationshipQuery } from './store.js';

/**
 * One statement for every recipient of a status. Each branch is served by a unique index of
 * Mastodon's schema: `index_blocks_on_account_id_and_target_account_id`,
 * `index_mutes_on_account_id_and_target_account_id`,
 * `index_account_domain_blocks_on_account_id_and_domain` (plan in docs/filtering.md).
 */
export const RELATIONSHIPS_SQL = `
SELECT b.account_id AS id FROM blocks b
 WHERE b.account_id = ANY($1::bigint[]) AND b.target_account_id = ANY($2::bigint[])
UNION
SELECT b.target_account_id FROM blocks b
 WHERE b.account_id = $3::bigint AND b.target_account_id = ANY($1::bigint[])
UNION
SELECT m.account_id FROM mutes m
 WHERE m.account_id = ANY($1::bigint[]) AND m.target_account_id = ANY($2::bigint[])
UNION
SELECT d.account_id FROM account_domain_blocks d
 WHERE $4::varchar IS NOT NULL AND d.account_id = ANY($1::bigint[]) AND d.domain = $4::varchar`;

/**
 * Expiry as epoch milliseconds: node-pg would read `timestamp without time zone` in local time.
 * Rails stores microseconds; `floor` truncates them to milliseconds as Rails' JSON (and node-pg)
 * do — a plain `::bigint` cast would round `.123567` up to `.124`.
 */
export const KEYWORD_FILTERS_SQL = `
SELECT f.account_id, f.id, f.phrase, f.context, f.action,
       floor(EXTRACT(EPOCH FROM f.expires_at) * 1000)::bigint AS expires_ms,
       k.keyword, k.whole_word
  FROM custom_filter_keywords k
  JOIN custom_filters f ON k.custom_filter_id = f.id
 WHERE f.account_id = ANY($1::bigint[])
   AND (f.expires_at IS NULL OR f.expires_at > NOW() AT TIME ZONE 'UTC')
 ORDER BY f.id, k.id`;

export class PostgresFilterStore implements FilterStore {
  constructor(private readonly pool: Pool) {}

  async excludedRecipients(q: RelationshipQuery): Promise<Set<string>> {
    const targets = q.authorId ? [q.authorId, ...q.mentionIds] : [...q.mentionIds];
    const { rows } = await this.pool.query<{ id: string }>(RELATIONSHIPS_SQL, [
      q.recipients,
      targets,
      q.authorId,
      q.domain,
    ]);
    return new Set(rows.map((r) => r.id));
  }

  async keywordFilters(accountIds: readonly string[]): Promise<FilterRow[]> {
    const { rows } = await this.pool.query<{
      account_id: string;
      id: string;
      phrase: string;
      context: string[];
      action: number;
      expires_ms: string | null;
      keyword: string;
      whole_word: boolean;
    }>(KEYWORD_FILTERS_SQL, [accountIds]);
    return rows.map((r) => ({
      accountId: r.account_id,
      filterId: r.id,
      title: r.phrase,
      context: r.context,
      expiresAt: r.expires_ms === null ? null : Number(r.expires_ms),
      action: r.action,
      keyword: r.keyword,
      wholeWord: r.whole_word,
    }));
  }
}
