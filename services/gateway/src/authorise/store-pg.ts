import type { Pool } from 'pg';
import type { AuthStore, SettingRow, TokenRow } from './store.js';

/**
 * Mastodon's token query (spec §5.2), for many tokens at once: `token = ANY($1)` instead of
 * `token = $1 … LIMIT 1`. The unique index on `token` keeps it one row per token.
 * Statements are unnamed on purpose (PgBouncer in transaction mode).
 */
const TOKENS_SQL = `SELECT oauth_access_tokens.token, oauth_access_tokens.id, oauth_access_tokens.resource_owner_id,
  users.account_id, users.chosen_languages, oauth_access_tokens.scopes,
  COALESCE(user_roles.permissions, 0) AS permissions
FROM oauth_access_tokens
INNER JOIN users ON oauth_access_tokens.resource_owner_id = users.id
INNER JOIN accounts ON accounts.id = users.account_id
LEFT OUTER JOIN user_roles ON user_roles.id = users.role_id
WHERE oauth_access_tokens.token = ANY($1::varchar[])
  AND oauth_access_tokens.revoked_at IS NULL
  AND users.disabled IS FALSE
  AND accounts.suspended_at IS NULL`;

const LIST_SQL = 'SELECT id, account_id FROM lists WHERE id = $1 AND account_id = $2 LIMIT 1';

const SETTINGS_SQL = 'SELECT var, value FROM settings WHERE var = ANY($1::varchar[])';

export class PgAuthStore implements AuthStore {
  constructor(private readonly pool: Pool) {}

  async findTokens(tokens: readonly string[]): Promise<TokenRow[]> {
    const result = await this.pool.query<TokenRow>(TOKENS_SQL, [tokens]);
    return result.rows;
  }

  async listOwnedBy(listId: unknown, accountId: string): Promise<boolean> {
    const result = await this.pool.query(LIST_SQL, [listId, accountId]);
    return result.rows.length > 0;
  }

  async settings(vars: readonly string[]): Promise<SettingRow[]> {
    const result = await this.pool.query<SettingRow>(SETTINGS_SQL, [vars]);
    return result.rows;
  }
}
