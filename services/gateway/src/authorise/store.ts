/**
 * The Postgres seam of authorisation: three reads, with Mastodon's exact semantics (spec §5.2,
 * §5.5, §5.6). `store-pg.ts` runs them; `store-memory.ts` answers from tables in memory.
 */

/** One row of the token query; int8 columns arrive as decimal strings (node-pg). */
export interface TokenRow {
  token: string;
  id: string;
  account_id: string;
  chosen_languages: string[] | null;
  /** NULL in the database makes the lookup fail with 500, as in Mastodon. */
  scopes: string | null;
  permissions: string;
}

export interface SettingRow {
  var: string;
  value: string | null;
}

export interface AuthStore {
  /**
   * Valid tokens among `tokens` (not revoked, user not disabled, account not suspended); at most
   * one row per token; tokens that are not valid are simply absent.
   */
  findTokens(tokens: readonly string[]): Promise<TokenRow[]>;
  /** True when list `listId` exists and belongs to `accountId`. Throws on a bad id (cast error). */
  listOwnedBy(listId: unknown, accountId: string): Promise<boolean>;
  /** `SELECT var, value FROM settings WHERE var IN (…)`. */
  settings(vars: readonly string[]): Promise<SettingRow[]>;
}
