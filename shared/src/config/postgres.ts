import { parse } from 'pg-connection-string';
import { ConfigError, type Env, int, str } from './env.js';

/** node-postgres pool options derived from Mastodon's variables (spec §2.2). */
export interface PostgresConfig {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  options?: string;
  /** `ca`, `cert` and `key` are file contents, from `sslrootcert`, `sslcert`, `sslkey` in `DATABASE_URL`. */
  ssl?: boolean | { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string };
  max: number;
  connectionTimeoutMillis: number;
  /** Empty on purpose: PgBouncer would otherwise `SET application_name` per transaction. */
  application_name: string;
}

/** `DB_SSLMODE`: disable/empty → off; no-verify → TLS unverified; anything else → TLS verified. */
export function sslFromMode(mode: string | undefined): PostgresConfig['ssl'] | undefined {
  if (mode === undefined) return undefined;
  if (mode === 'disable' || mode === '') return false;
  if (mode === 'no-verify') return { rejectUnauthorized: false };
  return { rejectUnauthorized: true };
}

/** The port of a `scheme://[userinfo@]host:port…` URL, bracketed IPv6 hosts included. */
const URL_PORT = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?:\[[^\]/?#]*\]|[^:/?#]*):([^/?#]*)/;

export function postgresConfig(env: Env, nodeEnv: string): PostgresConfig {
  const common = {
    max: int(env, 'DB_POOL', 10, { min: 1 }),
    connectionTimeoutMillis: 15_000,
    application_name: '',
  };
  const url = str(env, 'DATABASE_URL');
  if (url) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(url);
    } catch (err) {
      // pg-connection-string refuses a bad port as "Invalid URL"; name the port like Mastodon does.
      const port = URL_PORT.exec(url)?.[1];
      if (port !== undefined && (!/^\d*$/.test(port) || Number(port) > 65535)) {
        throw new ConfigError('DATABASE_URL', 'Invalid port specified in DATABASE_URL environment variable');
      }
      throw new ConfigError(
        'DATABASE_URL',
        `Invalid DATABASE_URL environment variable: ${(err as Error).message}`,
      );
    }
    const cfg: PostgresConfig = { ...common };
    if (parsed.password) cfg.password = parsed.password;
    else if (str(env, 'DB_PASS')) cfg.password = str(env, 'DB_PASS')!;
    if (parsed.host) cfg.host = parsed.host;
    if (parsed.user) cfg.user = parsed.user;
    if (parsed.port) {
      const port = Number.parseInt(parsed.port, 10);
      if (Number.isNaN(port))
        throw new ConfigError('DATABASE_URL', 'Invalid port specified in DATABASE_URL environment variable');
      cfg.port = port;
    }
    if (parsed.database) cfg.database = parsed.database;
    if (parsed.options) cfg.options = parsed.options;
    if (parsed.ssl !== undefined && parsed.ssl !== null) {
      if (typeof parsed.ssl === 'object') {
        // Like Mastodon: keep the CA and client certificate read from sslrootcert / sslcert / sslkey.
        const from = parsed.ssl as {
          rejectUnauthorized?: unknown;
          ca?: unknown;
          cert?: unknown;
          key?: unknown;
        };
        const ssl: { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string } = {
          rejectUnauthorized: from.rejectUnauthorized !== false,
        };
        if (typeof from.ca === 'string') ssl.ca = from.ca;
        if (typeof from.cert === 'string') ssl.cert = from.cert;
        if (typeof from.key === 'string') ssl.key = from.key;
        cfg.ssl = ssl;
      } else {
        cfg.ssl = Boolean(parsed.ssl);
      }
    }
    return cfg;
  }
  const ssl = sslFromMode(env['DB_SSLMODE']);
  const withSsl = ssl === undefined ? {} : { ssl };
  if (nodeEnv === 'development') {
    return {
      ...common,
      ...withSsl,
      ...(str(env, 'DB_USER') ? { user: str(env, 'DB_USER')! } : {}),
      ...(str(env, 'DB_PASS') ? { password: str(env, 'DB_PASS')! } : {}),
      database: str(env, 'DB_NAME') ?? 'mastodon_development',
      ...(str(env, 'DB_HOST') ? { host: str(env, 'DB_HOST')! } : {}),
      port: int(env, 'DB_PORT', 5432, { min: 1, max: 65535 }),
    };
  }
  if (nodeEnv === 'production') {
    return {
      ...common,
      ...withSsl,
      user: str(env, 'DB_USER') ?? 'mastodon',
      password: str(env, 'DB_PASS') ?? '',
      database: str(env, 'DB_NAME') ?? 'mastodon_production',
      host: str(env, 'DB_HOST') ?? 'localhost',
      port: int(env, 'DB_PORT', 5432, { min: 1, max: 65535 }),
    };
  }
  throw new ConfigError('DATABASE_URL', 'Unable to resolve postgresql database configuration.');
}

export function describePostgres(c: PostgresConfig): string {
  return `${c.user ?? '(default user)'}@${c.host ?? 'localhost'}:${c.port ?? 5432}/${c.database ?? ''}`;
}
