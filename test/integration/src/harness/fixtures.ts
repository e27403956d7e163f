/**
 * PostgreSQL fixtures on Mastodon's schema (`db/mastodon-schema.sql`): accounts, users, OAuth
 * tokens, roles, lists, feed-access settings, blocks, mutes, domain blocks and keyword filters —
 * the rows Mastodon's streaming server reads (spec §5, §8, §12).
 *
 * Ids are Mastodon-like snowflakes (ms timestamp << 16 | counter), unique across test files and
 * runs, so stale `subscribed:` keys from an earlier run never match a new account. Tokens are
 * random. Every row created through a `Fixtures` instance is deleted by `cleanup()`.
 *
 * `settings` is global to a database (one row per `var`), so tests that change feed-access
 * settings should use `IsolatedDatabase`: a fresh database with the schema loaded, for a gateway
 * of their own.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { servers } from './env.js';

export const SCHEMA_FILE = new URL('../../../../db/mastodon-schema.sql', import.meta.url);

/** `view_feeds` permission bit (UserRole::FLAGS[:view_feeds], spec §5.6). */
export const VIEW_FEEDS = 0x100000;
/** The YAML value rails-settings-cached stores for `disabled`. */
export const SETTING_DISABLED = '--- disabled\n';
export const SETTING_PUBLIC = '--- public\n';
export const SETTING_AUTHENTICATED = '--- authenticated\n';

export type FeedAccessSetting =
  | 'local_live_feed_access'
  | 'remote_live_feed_access'
  | 'local_topic_feed_access'
  | 'remote_topic_feed_access';

let counter = Math.floor(Math.random() * 0x8000);
/** A fresh snowflake-like id as a decimal string (what node-pg returns for bigint). */
export function nextId(): string {
  counter = (counter + 1) & 0xffff;
  return ((BigInt(Date.now()) << 16n) | BigInt(counter)).toString();
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

export interface TestAccount {
  accountId: string;
  username: string;
  /** null for local accounts. */
  domain: string | null;
  /** `username` for local accounts, `username@domain` for remote ones (as in API payloads). */
  acct: string;
}

export interface TestToken {
  tokenId: string;
  token: string;
  scopes: string;
}

export interface TestUser extends TestAccount, TestToken {
  userId: string;
}

export interface UserOptions {
  /** Space-separated scopes of the first token; default `read`. `null` stores NULL. */
  scopes?: string | null;
  username?: string;
  disabled?: boolean;
  suspended?: boolean;
  roleId?: string | null;
  chosenLanguages?: string[] | null;
  /** Token created already revoked. */
  revoked?: boolean;
}

export interface FilterOptions {
  phrase?: string;
  /** 0 warn, 1 hide, 2 blur. */
  action?: number;
  context?: string[];
  expiresAt?: Date | null;
  keywords: { keyword: string; wholeWord?: boolean }[];
}

export class Fixtures {
  readonly pool: pg.Pool;
  private readonly accounts: string[] = [];
  private readonly roles: string[] = [];
  private readonly settings = new Map<string, string | null | undefined>();

  constructor(readonly databaseUrl: string = defaultDatabaseUrl()) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []) {
    return this.pool.query<R>(sql, params);
  }

  /** An account without a user (e.g. the remote author of a status). */
  async createAccount(
    opts: { username?: string; domain?: string | null; suspended?: boolean } = {},
  ): Promise<TestAccount> {
    const accountId = nextId();
    const username = opts.username ?? `u${accountId}`;
    const domain = opts.domain ?? null;
    await this.query(`INSERT INTO accounts (id, username, domain, suspended_at) VALUES ($1, $2, $3, $4)`, [
      accountId,
      username,
      domain,
      opts.suspended ? new Date() : null,
    ]);
    this.accounts.push(accountId);
    return { accountId, username, domain, acct: domain ? `${username}@${domain}` : username };
  }

  /** A local account with a user and one access token. */
  async createUser(opts: UserOptions = {}): Promise<TestUser> {
    const account = await this.createAccount({
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.suspended !== undefined ? { suspended: opts.suspended } : {}),
    });
    const userId = nextId();
    await this.query(
      `INSERT INTO users (id, account_id, disabled, role_id, chosen_languages, email, confirmed_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())`,
      [
        userId,
        account.accountId,
        opts.disabled ?? false,
        opts.roleId ?? null,
        opts.chosenLanguages ?? null,
        `${account.username}@example.test`,
      ],
    );
    const token = await this.createToken(userId, {
      scopes: opts.scopes === undefined ? 'read' : opts.scopes,
      revoked: opts.revoked ?? false,
    });
    return { ...account, userId, ...token };
  }

  /** Another token for an existing user. */
  async createToken(
    userId: string,
    opts: { scopes?: string | null; revoked?: boolean } = {},
  ): Promise<TestToken> {
    const tokenId = nextId();
    const token = randomToken();
    const scopes = opts.scopes === undefined ? 'read' : opts.scopes;
    await this.query(
      `INSERT INTO oauth_access_tokens (id, token, scopes, resource_owner_id, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
      [tokenId, token, scopes, userId, opts.revoked ? new Date() : null],
    );
    return { tokenId, token, scopes: scopes ?? '' };
  }

  revokeToken(tokenId: string) {
    return this.query(`UPDATE oauth_access_tokens SET revoked_at = now() WHERE id = $1`, [tokenId]);
  }

  setDisabled(userId: string, disabled = true) {
    return this.query(`UPDATE users SET disabled = $2 WHERE id = $1`, [userId, disabled]);
  }

  setSuspended(accountId: string, suspended = true) {
    return this.query(`UPDATE accounts SET suspended_at = $2 WHERE id = $1`, [
      accountId,
      suspended ? new Date() : null,
    ]);
  }

  setChosenLanguages(userId: string, languages: string[] | null) {
    return this.query(`UPDATE users SET chosen_languages = $2 WHERE id = $1`, [userId, languages]);
  }

  /** A role with the given permission bits; returns its id. */
  async createRole(permissions: number | bigint, name = 'test'): Promise<string> {
    const id = nextId();
    await this.query(`INSERT INTO user_roles (id, name, permissions) VALUES ($1, $2, $3)`, [
      id,
      name,
      String(permissions),
    ]);
    this.roles.push(id);
    return id;
  }

  setRole(userId: string, roleId: string | null) {
    return this.query(`UPDATE users SET role_id = $2 WHERE id = $1`, [userId, roleId]);
  }

  /** A list owned by `accountId`; `id` may be given (e.g. a small one a JSON number can carry). */
  async createList(accountId: string, title = 'test list', id: string = nextId()): Promise<string> {
    await this.query(`INSERT INTO lists (id, account_id, title) VALUES ($1, $2, $3)`, [id, accountId, title]);
    return id;
  }

  deleteList(listId: string) {
    return this.query(`DELETE FROM lists WHERE id = $1`, [listId]);
  }

  block(accountId: string, targetAccountId: string) {
    return this.query(`INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)`, [
      nextId(),
      accountId,
      targetAccountId,
    ]);
  }

  mute(
    accountId: string,
    targetAccountId: string,
    opts: { expiresAt?: Date | null; hideNotifications?: boolean } = {},
  ) {
    return this.query(
      `INSERT INTO mutes (id, account_id, target_account_id, expires_at, hide_notifications) VALUES ($1, $2, $3, $4, $5)`,
      [nextId(), accountId, targetAccountId, opts.expiresAt ?? null, opts.hideNotifications ?? true],
    );
  }

  domainBlock(accountId: string, domain: string) {
    return this.query(`INSERT INTO account_domain_blocks (id, account_id, domain) VALUES ($1, $2, $3)`, [
      nextId(),
      accountId,
      domain,
    ]);
  }

  /** A custom filter with keywords; returns the filter id. */
  async createFilter(accountId: string, opts: FilterOptions): Promise<string> {
    const id = nextId();
    await this.query(
      `INSERT INTO custom_filters (id, account_id, action, context, expires_at, phrase) VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        id,
        accountId,
        opts.action ?? 0,
        opts.context ?? ['home', 'public'],
        opts.expiresAt ?? null,
        opts.phrase ?? 'test filter',
      ],
    );
    for (const k of opts.keywords) {
      await this.query(
        `INSERT INTO custom_filter_keywords (id, custom_filter_id, keyword, whole_word) VALUES ($1, $2, $3, $4)`,
        [nextId(), id, k.keyword, k.wholeWord ?? true],
      );
    }
    return id;
  }

  deleteFilter(filterId: string) {
    return this.query(`DELETE FROM custom_filters WHERE id = $1`, [filterId]);
  }

  /**
   * Sets a rails-settings-cached row (value is stored verbatim, e.g. {@link SETTING_DISABLED});
   * `null` deletes the row. The previous value is restored by `cleanup()`. Settings are global to
   * the database: use an {@link IsolatedDatabase} when other tests share it.
   */
  async setSetting(name: FeedAccessSetting | string, value: string | null): Promise<void> {
    if (!this.settings.has(name)) {
      const prev = await this.query<{ value: string | null }>(`SELECT value FROM settings WHERE var = $1`, [
        name,
      ]);
      this.settings.set(name, prev.rows.length ? prev.rows[0]!.value : undefined);
    }
    if (value === null) {
      await this.query(`DELETE FROM settings WHERE var = $1`, [name]);
    } else {
      await this.query(
        `INSERT INTO settings (var, value, created_at, updated_at) VALUES ($1, $2, now(), now())
         ON CONFLICT (var) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
        [name, value],
      );
    }
  }

  /** Deletes everything this instance created (cascades from accounts) and restores settings. */
  async cleanup(): Promise<void> {
    if (this.accounts.length) {
      await this.query(`DELETE FROM accounts WHERE id = ANY($1::bigint[])`, [this.accounts.splice(0)]);
    }
    if (this.roles.length) {
      await this.query(`DELETE FROM user_roles WHERE id = ANY($1::bigint[])`, [this.roles.splice(0)]);
    }
    for (const [name, prev] of this.settings) {
      if (prev === undefined) await this.query(`DELETE FROM settings WHERE var = $1`, [name]);
      else await this.setSetting(name, prev);
    }
    this.settings.clear();
  }

  async close(): Promise<void> {
    await this.cleanup().catch(() => {});
    await this.pool.end();
  }
}

/**
 * A throw-away database on the same server as DATABASE_URL, with Mastodon's schema loaded.
 * For tests that change global rows (`settings`) and run their own gateway against it.
 */
export class IsolatedDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly adminUrl: string,
  ) {}

  static async create(baseUrl: string = defaultDatabaseUrl()): Promise<IsolatedDatabase> {
    const name = `sluice_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(baseUrl);
    url.pathname = `/${name}`;
    const db = new IsolatedDatabase(name, url.toString(), baseUrl);
    const schema = await readFile(SCHEMA_FILE, 'utf8');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(schema);
    } finally {
      await c.end();
    }
    return db;
  }

  fixtures(): Fixtures {
    return new Fixtures(this.url);
  }

  async drop(): Promise<void> {
    const admin = new pg.Client({ connectionString: this.adminUrl });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}

/** The harness's database (global-setup decides: DATABASE_URL or a container). */
function defaultDatabaseUrl(): string {
  return servers().databaseUrl;
}
