import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  describePostgres,
  describeRedis,
  type Env,
  isTruthy,
  loadConfig,
  sslFromMode,
  withDotenv,
} from './config/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'sluice-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

/** Runs `fn` and returns the ConfigError it throws (fails when it throws anything else or nothing). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const gateway = (env: Env) => loadConfig(env, 'gateway');
const ingest = (env: Env) => loadConfig(env, 'ingest');
const pg = (env: Env) => gateway(env).postgres;
const redis = (env: Env) => ingest(env).redis;

describe('config - defaults', () => {
  it('ingest with an empty environment', () => {
    const c = ingest({});
    expect(c.service).toBe('ingest');
    expect(c.nodeEnv).toBe('development');
    expect(c.logLevel).toBe('debug');
    expect(c.envFile).toBeNull();
    expect(c.redis).toEqual({ options: { family: 0, host: '127.0.0.1', port: 6379, db: 0 } });
    expect(c.ingest).toEqual({
      port: 4001,
      bind: '127.0.0.1',
      maxInFlight: 512,
      bufferMessages: 100_000,
      bufferBytes: 128 * 1024 * 1024,
      publishTimeoutMs: 2000,
      joinDelayMs: 2000,
    });
    expect(c.nats).toEqual({ servers: ['nats://127.0.0.1:4222'] });
    expect(c.subjects).toEqual({ prefix: 'sluice' });
    expect(c.stream).toEqual({
      name: 'SLUICE',
      storage: 'memory',
      replicas: 1,
      maxAgeSeconds: 300,
      maxBytes: 256 * 1024 * 1024,
      maxMsgs: 100_000,
      maxMsgsPerSubject: 1000,
      duplicateWindowSeconds: 30,
    });
    expect(c.interest).toEqual({
      subscribedTtlMs: 1_080_000,
      subscribedRefreshMs: 360_000,
      snapshotMs: 60_000,
      expiryMs: 180_000,
    });
    expect(c.telemetry).toEqual({ enabled: false });
    expect(c).not.toHaveProperty('postgres');
    expect(c).not.toHaveProperty('gateway');
  });

  it('gateway with an empty environment (NODE_ENV development, spec §2.2 B)', () => {
    const c = gateway({});
    expect(c.service).toBe('gateway');
    expect(c.postgres).toEqual({
      max: 10,
      connectionTimeoutMillis: 15_000,
      application_name: '',
      database: 'mastodon_development',
      port: 5432,
    });
    expect(c.gateway.port).toBe(4000);
    expect(c.gateway.bind).toBe('127.0.0.1');
    expect(c.gateway).not.toHaveProperty('socket');
    expect(c.gateway.trustedProxies).toEqual(['loopback', 'uniquelocal']);
    expect(c.gateway.glitch).toBe(false);
    expect(c).not.toHaveProperty('redis');
  });

  it('development reads DB_USER, DB_PASS, DB_NAME, DB_HOST, DB_PORT', () => {
    expect(
      pg({ DB_USER: 'u', DB_PASS: 'p', DB_NAME: 'n', DB_HOST: '/var/run/postgresql', DB_PORT: '6432' }),
    ).toEqual({
      max: 10,
      connectionTimeoutMillis: 15_000,
      application_name: '',
      user: 'u',
      password: 'p',
      database: 'n',
      host: '/var/run/postgresql',
      port: 6432,
    });
  });

  it('production defaults', () => {
    const c = gateway({ NODE_ENV: 'production' });
    expect(c.nodeEnv).toBe('production');
    expect(c.logLevel).toBe('info');
    expect(c.postgres).toEqual({
      max: 10,
      connectionTimeoutMillis: 15_000,
      application_name: '',
      user: 'mastodon',
      password: '',
      database: 'mastodon_production',
      host: 'localhost',
      port: 5432,
    });
    expect(
      pg({ NODE_ENV: 'production', DB_USER: 'u', DB_PASS: 'p', DB_NAME: 'n', DB_HOST: 'h', DB_PORT: '1' }),
    ).toMatchObject({ user: 'u', password: 'p', database: 'n', host: 'h', port: 1 });
  });

  it('empty values mean "unset"', () => {
    expect(gateway({ NODE_ENV: '', PORT: '', DB_NAME: '', LOG_LEVEL: '' })).toMatchObject({
      nodeEnv: 'development',
      logLevel: 'debug',
      gateway: { port: 4000 },
      postgres: { database: 'mastodon_development' },
    });
  });

  it('NODE_ENV=test without DATABASE_URL is refused with Mastodon’s message', () => {
    const err = configError(() => gateway({ NODE_ENV: 'test' }));
    expect(err.message).toBe('Unable to resolve postgresql database configuration.');
    expect(err.variable).toBe('DATABASE_URL');
    expect(() => gateway({ NODE_ENV: 'staging' })).toThrow(
      'Unable to resolve postgresql database configuration.',
    );
    expect(pg({ NODE_ENV: 'test', DATABASE_URL: 'postgres://u@h/db' })).toMatchObject({
      user: 'u',
      database: 'db',
    });
    // Ingest does not use Postgres.
    expect(ingest({ NODE_ENV: 'test' }).nodeEnv).toBe('test');
  });
});

describe('config - LOG_LEVEL', () => {
  it.each([
    [{}, 'debug'],
    [{ NODE_ENV: 'development' }, 'debug'],
    [{ NODE_ENV: 'production' }, 'info'],
    [{ NODE_ENV: 'test' }, 'info'],
    [{ LOG_LEVEL: 'warn' }, 'warn'],
    [{ NODE_ENV: 'production', LOG_LEVEL: 'trace' }, 'trace'],
    [{ NODE_ENV: 'production', LOG_LEVEL: 'fatal' }, 'fatal'],
    [{ LOG_LEVEL: 'verbose' }, 'debug'], // unknown levels fall back silently, as in Mastodon
    [{ NODE_ENV: 'production', LOG_LEVEL: 'INFO' }, 'info'],
    [{ NODE_ENV: 'production', LOG_LEVEL: 'silent' }, 'info'],
  ] as [Env, string][])('%j → %s', (env, level) => {
    expect(ingest(env).logLevel).toBe(level);
  });
});

describe('config - DATABASE_URL', () => {
  it('uses only what the URL holds, ignoring DB_* and DB_SSLMODE', () => {
    expect(
      pg({
        DATABASE_URL: 'postgres://alice:s3cret@db.example:5433/mastodon',
        DB_HOST: 'ignored',
        DB_NAME: 'ignored',
        DB_USER: 'ignored',
        DB_PORT: 'not-a-number-but-ignored',
        DB_SSLMODE: 'require',
      }),
    ).toEqual({
      max: 10,
      connectionTimeoutMillis: 15_000,
      application_name: '',
      user: 'alice',
      password: 's3cret',
      host: 'db.example',
      port: 5433,
      database: 'mastodon',
    });
  });

  it('takes DB_PASS when the URL has no password, and the URL password otherwise', () => {
    expect(pg({ DATABASE_URL: 'postgres://alice@db/m', DB_PASS: 'fromenv' }).password).toBe('fromenv');
    expect(pg({ DATABASE_URL: 'postgres://alice:@db/m', DB_PASS: 'fromenv' }).password).toBe('fromenv');
    expect(pg({ DATABASE_URL: 'postgres://alice:url@db/m', DB_PASS: 'fromenv' }).password).toBe('url');
    expect(pg({ DATABASE_URL: 'postgres://alice@db/m' })).not.toHaveProperty('password');
    expect(pg({ DATABASE_URL: 'postgres://alice:p%40ss@db/m' }).password).toBe('p@ss');
  });

  it('works in any NODE_ENV and for unix sockets (empty port)', () => {
    const c = pg({
      NODE_ENV: 'test',
      DATABASE_URL: 'postgres://mastodon@/mastodon_test?host=/var/run/postgresql',
    });
    expect(c).toMatchObject({ user: 'mastodon', host: '/var/run/postgresql', database: 'mastodon_test' });
    expect(c).not.toHaveProperty('port');
  });

  it('maps sslmode / ssl in the URL', () => {
    expect(pg({ DATABASE_URL: 'postgres://u@h/d?sslmode=require' }).ssl).toEqual({
      rejectUnauthorized: true,
    });
    expect(pg({ DATABASE_URL: 'postgres://u@h/d?sslmode=verify-full' }).ssl).toEqual({
      rejectUnauthorized: true,
    });
    expect(pg({ DATABASE_URL: 'postgres://u@h/d?sslmode=no-verify' }).ssl).toEqual({
      rejectUnauthorized: false,
    });
    expect(pg({ DATABASE_URL: 'postgres://u@h/d?sslmode=disable' }).ssl).toBe(false);
    expect(pg({ DATABASE_URL: 'postgres://u@h/d?ssl=true' }).ssl).toBe(true);
    expect(pg({ DATABASE_URL: 'postgres://u@h/d' })).not.toHaveProperty('ssl');
  });

  it('keeps the CA and client certificate named by sslrootcert / sslcert / sslkey', () => {
    const ca = file('ca.pem', 'CA PEM\n');
    const cert = file('client.pem', 'CERT PEM\n');
    const key = file('client.key', 'KEY PEM\n');
    expect(
      pg({
        DATABASE_URL: `postgres://u@h/d?sslmode=verify-full&sslrootcert=${ca}&sslcert=${cert}&sslkey=${key}`,
      }).ssl,
    ).toEqual({ rejectUnauthorized: true, ca: 'CA PEM\n', cert: 'CERT PEM\n', key: 'KEY PEM\n' });
    expect(pg({ DATABASE_URL: `postgres://u@h/d?sslmode=no-verify&sslrootcert=${ca}` }).ssl).toEqual({
      rejectUnauthorized: false,
      ca: 'CA PEM\n',
    });
  });

  it.each([
    'postgres://u:p@h:abc/d',
    'postgres://u:p@h:5432x/d',
    'postgres://h:99999/d',
    'postgres://u:p@[::1]:port/d',
  ])('an invalid port (%s) is refused with Mastodon’s message', (url) => {
    const err = configError(() => pg({ DATABASE_URL: url }));
    expect(err.message).toBe('Invalid port specified in DATABASE_URL environment variable');
    expect(err.variable).toBe('DATABASE_URL');
  });

  it('other unparsable URLs name the variable', () => {
    const err = configError(() => pg({ DATABASE_URL: 'postgres://u@h/d?sslrootcert=/nonexistent/ca.pem' }));
    expect(err.variable).toBe('DATABASE_URL');
    expect(err.message).toMatch(/^Invalid DATABASE_URL environment variable: /);
  });

  it('describePostgres hides the password', () => {
    const c = pg({ DATABASE_URL: 'postgres://alice:s3cret@db:5433/m' });
    expect(describePostgres(c)).toBe('alice@db:5433/m');
    expect(describePostgres(pg({}))).toBe('(default user)@localhost:5432/mastodon_development');
  });
});

describe('config - DB_SSLMODE and DB_POOL', () => {
  it.each([
    ['disable', false],
    ['', false],
    ['no-verify', { rejectUnauthorized: false }],
    ['prefer', { rejectUnauthorized: true }],
    ['allow', { rejectUnauthorized: true }],
    ['require', { rejectUnauthorized: true }],
    ['verify-ca', { rejectUnauthorized: true }],
    ['verify-full', { rejectUnauthorized: true }],
  ])('DB_SSLMODE=%j → ssl %j (development and production)', (mode, ssl) => {
    expect(sslFromMode(mode)).toEqual(ssl);
    expect(pg({ DB_SSLMODE: mode }).ssl).toEqual(ssl);
    expect(pg({ NODE_ENV: 'production', DB_SSLMODE: mode }).ssl).toEqual(ssl);
  });

  it('unset DB_SSLMODE sets no ssl option (node-pg then honours PGSSLMODE)', () => {
    expect(sslFromMode(undefined)).toBeUndefined();
    expect(pg({})).not.toHaveProperty('ssl');
    expect(pg({ NODE_ENV: 'production' })).not.toHaveProperty('ssl');
  });

  it('DB_POOL sets the pool size in both modes', () => {
    expect(pg({ DB_POOL: '25' }).max).toBe(25);
    expect(pg({ DATABASE_URL: 'postgres://u@h/d', DB_POOL: '3' }).max).toBe(3);
    expect(configError(() => pg({ DB_POOL: 'many' })).message).toBe(
      'Invalid DB_POOL environment variable: many',
    );
    expect(configError(() => pg({ DB_POOL: '0' })).variable).toBe('DB_POOL');
  });
});

describe('config - Redis', () => {
  it('REDIS_URL wins over sentinels and host/port, and nothing else is read', () => {
    const c = redis({
      REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
      REDIS_SENTINELS: 's1,s2',
      REDIS_SENTINEL_MASTER: 'm',
      REDIS_HOST: 'ignored',
      REDIS_PORT: 'ignored',
      REDIS_DB: 'ignored',
    });
    expect(c).toEqual({ url: 'rediss://user:pw@redis.example:6380/2', options: { family: 0 } });
    expect(describeRedis(c)).toBe('rediss://[Redacted]@redis.example:6380/2');
  });

  it.each(['redis://h', 'rediss://h:1/0', 'unix:///var/run/redis.sock', '/var/run/redis.sock'])(
    'REDIS_URL %s is accepted',
    (url) => {
      expect(redis({ REDIS_URL: url }).url).toBe(url);
    },
  );

  it('REDIS_URL with another scheme names the variable', () => {
    expect(configError(() => redis({ REDIS_URL: 'http://h' })).variable).toBe('REDIS_URL');
  });

  it('sentinels when REDIS_SENTINELS and REDIS_SENTINEL_MASTER are both set', () => {
    const c = redis({
      REDIS_SENTINELS: 's1:26380, s2 ,10.0.0.3:1',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_HOST: 'ignored',
      REDIS_DB: '3',
      REDIS_USER: 'u',
      REDIS_PASSWORD: 'p',
    });
    expect(c).toEqual({
      options: {
        family: 0,
        sentinels: [
          { host: 's1', port: 26380 },
          { host: 's2', port: 26379 },
          { host: '10.0.0.3', port: 1 },
        ],
        name: 'mymaster',
        db: 3,
        username: 'u',
        password: 'p',
        sentinelUsername: 'u',
        sentinelPassword: 'p',
      },
    });
    expect(describeRedis(c)).toBe('sentinel mymaster via s1:26380,s2:26379,10.0.0.3:1');
  });

  it('REDIS_SENTINEL_PORT is the default port; sentinel credentials can differ', () => {
    expect(
      redis({
        REDIS_SENTINELS: 'a,b:7',
        REDIS_SENTINEL_MASTER: 'm',
        REDIS_SENTINEL_PORT: '5000',
        REDIS_SENTINEL_USERNAME: 'su',
        REDIS_SENTINEL_PASSWORD: 'sp',
      }).options,
    ).toEqual({
      family: 0,
      sentinels: [
        { host: 'a', port: 5000 },
        { host: 'b', port: 7 },
      ],
      name: 'm',
      db: 0,
      sentinelUsername: 'su',
      sentinelPassword: 'sp',
    });
  });

  it.each(['a:x', 'a:', ':1', 'a,,b', 'a:70000'])('REDIS_SENTINELS=%j is refused by name', (value) => {
    const err = configError(() => redis({ REDIS_SENTINELS: value, REDIS_SENTINEL_MASTER: 'm' }));
    expect(err.variable).toBe('REDIS_SENTINELS');
    expect(err.message).toBe(`Invalid REDIS_SENTINELS environment variable: ${value}`);
  });

  it('sentinels without a master name fall back to host/port', () => {
    expect(redis({ REDIS_SENTINELS: 's1', REDIS_HOST: 'h' }).options).toEqual({
      family: 0,
      host: 'h',
      port: 6379,
      db: 0,
    });
    expect(redis({ REDIS_SENTINEL_MASTER: 'm' }).options).not.toHaveProperty('sentinels');
  });

  it('host/port mode', () => {
    expect(
      redis({ REDIS_HOST: 'redis', REDIS_PORT: '6380', REDIS_DB: '2', REDIS_USER: 'u', REDIS_PASSWORD: 'p' })
        .options,
    ).toEqual({ family: 0, host: 'redis', port: 6380, db: 2, username: 'u', password: 'p' });
    // `??` like Mastodon: an explicitly empty REDIS_HOST is passed through.
    expect(redis({ REDIS_HOST: '' }).options.host).toBe('');
    expect(describeRedis(redis({}))).toBe('127.0.0.1:6379/0');
  });

  it('REDIS_NAMESPACE is kept in every mode', () => {
    expect(redis({ REDIS_NAMESPACE: 'ns', REDIS_URL: 'redis://h' }).namespace).toBe('ns');
    expect(redis({ REDIS_NAMESPACE: 'ns', REDIS_SENTINELS: 's', REDIS_SENTINEL_MASTER: 'm' }).namespace).toBe(
      'ns',
    );
    expect(redis({ REDIS_NAMESPACE: 'ns' }).namespace).toBe('ns');
    expect(redis({})).not.toHaveProperty('namespace');
    expect(redis({ REDIS_NAMESPACE: '' })).not.toHaveProperty('namespace');
  });
});

describe('config - gateway section', () => {
  it.each([
    ['[::1]', '::1'],
    ['[::]', '::'],
    ['::', '::'],
    ['0.0.0.0', '0.0.0.0'],
    ['localhost', 'localhost'],
  ])('BIND=%s → %s', (bind, expected) => {
    expect(gateway({ BIND: bind }).gateway.bind).toBe(expected);
  });

  it('PORT, SOCKET, TRUSTED_PROXY_IP, SLUICE_GLITCH', () => {
    const g = gateway({
      PORT: '4010',
      SOCKET: '/run/s.sock',
      TRUSTED_PROXY_IP: '10.0.0.0/8, 192.168.0.1  loopback',
      SLUICE_GLITCH: 'true',
    }).gateway;
    expect(g).toMatchObject({ port: 4010, socket: '/run/s.sock', glitch: true });
    expect(g.trustedProxies).toEqual(['10.0.0.0/8', '192.168.0.1', 'loopback']);
  });

  it('seconds are converted to milliseconds, fractions allowed', () => {
    const g = gateway({ SLUICE_DRAIN_SECONDS: '1.5', SLUICE_FILTER_TIMEOUT_SECONDS: '0.25' }).gateway;
    expect(g.drainMs).toBe(1500);
    expect(g.filterTimeoutMs).toBe(250);
    expect(gateway({ SLUICE_DRAIN_SECONDS: '0' }).gateway.drainMs).toBe(0);
  });

  it('SLUICE_IDLE_GC_SECONDS: a look every 5 s by default, 0 turns the idle GC off', () => {
    expect(gateway({}).gateway.idleGcMs).toBe(5000);
    expect(gateway({ SLUICE_IDLE_GC_SECONDS: '0' }).gateway.idleGcMs).toBe(0);
    expect(gateway({ SLUICE_IDLE_GC_SECONDS: '30' }).gateway.idleGcMs).toBe(30_000);
  });

  it('SLUICE_GAP_REPAIR_MAX_EVENTS: 10,000 by default, 0 turns gap repair off', () => {
    expect(gateway({}).gateway.gapRepairMaxEvents).toBe(10_000);
    expect(gateway({ SLUICE_GAP_REPAIR_MAX_EVENTS: '0' }).gateway.gapRepairMaxEvents).toBe(0);
    expect(gateway({ SLUICE_GAP_REPAIR_MAX_EVENTS: '250' }).gateway.gapRepairMaxEvents).toBe(250);
  });
});

describe('config - invalid values name the variable', () => {
  it('PORT=abc', () => {
    const err = configError(() => gateway({ PORT: 'abc' }));
    expect(err.message).toBe('Invalid PORT environment variable: abc');
    expect(err.variable).toBe('PORT');
    expect(err.name).toBe('ConfigError');
  });

  it.each([
    ['PORT', '4000.5', gateway],
    ['PORT', '12abc', gateway],
    ['PORT', '70000', gateway],
    ['PORT', '-1', gateway],
    ['DB_PORT', 'x', gateway],
    ['SLUICE_SEND_BUFFER_BYTES', '1k', gateway],
    ['SLUICE_AUTH_BATCH_MAX', '0', gateway],
    ['SLUICE_WS_PING_MS', 'soon', gateway],
    ['SLUICE_GAP_REPAIR_MAX_EVENTS', '-1', gateway],
    ['SLUICE_IDLE_GC_SECONDS', '-5', gateway],
    ['SLUICE_GAP_REPAIR_MAX_EVENTS', 'lots', gateway],
    ['REDIS_PORT', 'six', ingest],
    ['REDIS_DB', '-1', ingest],
    [
      'REDIS_SENTINEL_PORT',
      'x',
      (env: Env) => ingest({ ...env, REDIS_SENTINELS: 'a', REDIS_SENTINEL_MASTER: 'm' }),
    ],
    ['SLUICE_INGEST_PORT', '1e3', ingest],
    ['SLUICE_INGEST_MAX_IN_FLIGHT', '0', ingest],
    ['SLUICE_STREAM_MAX_AGE_SECONDS', 'five', ingest],
    ['SLUICE_STREAM_REPLICAS', '7', ingest],
    ['SLUICE_STREAM_STORAGE', 'disk', ingest],
    ['SLUICE_STREAM_NAME', 'a.b', ingest],
    ['SLUICE_SUBJECT_PREFIX', 'a..b', ingest],
    ['SLUICE_SUBJECT_PREFIX', 'a.*', ingest],
    ['SLUICE_SUBSCRIBED_TTL_SECONDS', 'NaN', ingest],
    ['SLUICE_INTEREST_SNAPSHOT_SECONDS', 'Infinity', ingest],
    ['SLUICE_INTEREST_SNAPSHOT_SECONDS', '   ', ingest],
    ['SLUICE_DRAIN_SECONDS', '-1', gateway],
    ['SLUICE_DRAIN_SECONDS', ' ', gateway],
    ['SLUICE_GLITCH', 'maybe', gateway],
    ['NATS_URL', 'http://nats:4222', ingest],
  ] as [string, string, (env: Env) => unknown][])('%s=%j', (name, value, load) => {
    const err = configError(() => load({ [name]: value }));
    expect(err.variable).toBe(name);
    expect(err.message).toContain(`Invalid ${name} environment variable: `);
    expect(err.message).toContain(value.trim() === '' ? name : value);
  });

  it('NATS_URL names the bad server of a list', () => {
    const err = configError(() => ingest({ NATS_URL: 'nats://a:4222,not a url' }));
    expect(err.variable).toBe('NATS_URL');
    expect(err.message).toBe('Invalid NATS_URL environment variable: not a url');
  });

  it('NATS_TLS_CERT without NATS_TLS_KEY, and the reverse', () => {
    const cert = file('nats.crt', 'CERT');
    const key = file('nats.key', 'KEY');
    expect(configError(() => ingest({ NATS_TLS_CERT: cert })).variable).toBe('NATS_TLS_KEY');
    expect(configError(() => ingest({ NATS_TLS_KEY: key })).variable).toBe('NATS_TLS_CERT');
    expect(ingest({ NATS_TLS_CERT: cert, NATS_TLS_KEY: key }).nats.tls).toEqual({
      certFile: cert,
      keyFile: key,
    });
  });

  it('NATS files must be readable', () => {
    const ca = file('nats-ca.pem', 'CA');
    expect(ingest({ NATS_TLS_CA: ca }).nats.tls).toEqual({ caFile: ca });
    const err = configError(() => ingest({ NATS_TLS_CA: join(tmp, 'missing.pem') }));
    expect(err.variable).toBe('NATS_TLS_CA');
    expect(configError(() => ingest({ NATS_CREDS: join(tmp, 'missing.creds') })).variable).toBe('NATS_CREDS');
  });

  it('NATS servers, credentials', () => {
    expect(
      ingest({
        NATS_URL: 'nats://a:4222, tls://b:4222,c:4223,d',
        NATS_USER: 'u',
        NATS_PASSWORD: 'p',
        NATS_TOKEN: 't',
      }).nats,
    ).toEqual({
      servers: ['nats://a:4222', 'tls://b:4222', 'c:4223', 'd'],
      user: 'u',
      pass: 'p',
      token: 't',
    });
  });

  it('SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS may not exceed SLUICE_STREAM_MAX_AGE_SECONDS', () => {
    const err = configError(() => ingest({ SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS: '301' }));
    expect(err.variable).toBe('SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS');
    expect(err.message).toContain('SLUICE_STREAM_MAX_AGE_SECONDS');
    expect(
      configError(() =>
        ingest({ SLUICE_STREAM_MAX_AGE_SECONDS: '60', SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS: '61' }),
      ).variable,
    ).toBe('SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS');
    expect(
      ingest({ SLUICE_STREAM_MAX_AGE_SECONDS: '60', SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS: '60' }).stream,
    ).toMatchObject({ maxAgeSeconds: 60, duplicateWindowSeconds: 60 });
  });
});

describe('config - result', () => {
  function expectDeepFrozen(value: unknown, path: string): void {
    if (value === null || typeof value !== 'object') return;
    expect(Object.isFrozen(value), path).toBe(true);
    for (const [k, v] of Object.entries(value)) expectDeepFrozen(v, `${path}.${k}`);
  }

  it('is deeply frozen for both services', () => {
    const ca = file('pg-ca.pem', 'CA');
    const g = gateway({ DATABASE_URL: `postgres://u@h/d?sslrootcert=${ca}`, SOCKET: '/s' });
    expectDeepFrozen(g, 'gateway');
    const i = ingest({ REDIS_SENTINELS: 'a,b', REDIS_SENTINEL_MASTER: 'm', NATS_URL: 'nats://a,nats://b' });
    expectDeepFrozen(i, 'ingest');
    expect(() => {
      (i.redis.options.sentinels as { port: number }[])[0]!.port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (g.gateway.trustedProxies as string[]).push('x');
    }).toThrow(TypeError);
    expect(() => {
      (g as { logLevel: string }).logLevel = 'trace';
    }).toThrow(TypeError);
  });

  it('does not modify the environment it reads', () => {
    const env = { NODE_ENV: 'production', PORT: '1' };
    gateway(env);
    expect(env).toEqual({ NODE_ENV: 'production', PORT: '1' });
    expect(Object.isFrozen(env)).toBe(false);
  });

  it('records the env file and telemetry switch', () => {
    expect(loadConfig({}, 'ingest', '/x/.env').envFile).toBe('/x/.env');
    expect(ingest({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }).telemetry.enabled).toBe(true);
    expect(ingest({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://j/v1/traces' }).telemetry.enabled).toBe(true);
    expect(
      ingest({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_SDK_DISABLED: 'true' }).telemetry
        .enabled,
    ).toBe(false);
  });
});

describe('config - withDotenv', () => {
  const root = mkdtempSync(join(tmp, 'mastodon-'));
  writeFileSync(
    join(root, '.env'),
    'DB_NAME=from_dotenv\nREDIS_HOST=dotenv-redis\nPORT=5000\nNODE_ENV=production\n',
  );
  writeFileSync(
    join(root, '.env.production'),
    'DB_NAME=from_production\nDB_PASS="quoted secret"\nPORT=6000\n',
  );

  it('reads .env from MASTODON_ROOT when NODE_ENV is not production', () => {
    const { env, file: read } = withDotenv({ MASTODON_ROOT: root }, '/nonexistent');
    expect(read).toBe(join(root, '.env'));
    expect(env).toMatchObject({ DB_NAME: 'from_dotenv', REDIS_HOST: 'dotenv-redis', PORT: '5000' });
    expect(withDotenv({ MASTODON_ROOT: root, NODE_ENV: 'test' }, '/nonexistent').file).toBe(
      join(root, '.env'),
    );
  });

  it('reads .env.production when NODE_ENV=production', () => {
    const { env, file: read } = withDotenv({ MASTODON_ROOT: root, NODE_ENV: 'production' }, '/nonexistent');
    expect(read).toBe(join(root, '.env.production'));
    expect(env).toMatchObject({ DB_NAME: 'from_production', DB_PASS: 'quoted secret', PORT: '6000' });
    expect(env).not.toHaveProperty('REDIS_HOST');
  });

  it('falls back to the working directory', () => {
    expect(withDotenv({}, root).file).toBe(join(root, '.env'));
    expect(withDotenv({ MASTODON_ROOT: '' }, root).file).toBe(join(root, '.env'));
  });

  it('real environment variables win, even empty ones', () => {
    const { env } = withDotenv({ MASTODON_ROOT: root, PORT: '7000', DB_NAME: '' }, '/nonexistent');
    expect(env['PORT']).toBe('7000');
    expect(env['DB_NAME']).toBe('');
    expect(env['REDIS_HOST']).toBe('dotenv-redis');
  });

  it('NODE_ENV comes from the real environment only (Mastodon reads it before the file)', () => {
    const { env } = withDotenv({ MASTODON_ROOT: root }, '/nonexistent');
    expect(env).not.toHaveProperty('NODE_ENV');
    expect(loadConfig(env, 'gateway').postgres.database).toBe('from_dotenv');
    expect(loadConfig(env, 'gateway').nodeEnv).toBe('development');
  });

  it('returns the input unchanged when there is no file, and never modifies it', () => {
    const input = { MASTODON_ROOT: join(root, 'nothing-here'), X: '1' };
    const result = withDotenv(input, '/nonexistent');
    expect(result).toEqual({ env: input, file: null });
    const other = { MASTODON_ROOT: root };
    withDotenv(other, '/nonexistent');
    expect(other).toEqual({ MASTODON_ROOT: root });
  });

  it('feeds loadConfig', () => {
    const { env, file: read } = withDotenv({ MASTODON_ROOT: root, NODE_ENV: 'production' }, '/nonexistent');
    const c = loadConfig(env, 'gateway', read);
    expect(c.envFile).toBe(join(root, '.env.production'));
    expect(c.postgres).toMatchObject({ database: 'from_production', password: 'quoted secret' });
    expect(c.gateway.port).toBe(6000);
  });
});

describe('config - isTruthy (only_media)', () => {
  it.each([
    ['true', true],
    ['1', true],
    ['False', true],
    ['no', true],
    ['yes', true],
    ['', false],
    ['false', false],
    ['0', false],
    ['f', false],
    ['F', false],
    ['FALSE', false],
    ['off', false],
    ['OFF', false],
  ])('%j → %s', (value, expected) => {
    expect(isTruthy(value)).toBe(expected);
  });

  it('non-strings use JavaScript truthiness', () => {
    expect(isTruthy(undefined)).toBe(false);
    expect(isTruthy(0)).toBe(false);
    expect(isTruthy(1)).toBe(true);
    expect(isTruthy(['x'])).toBe(true);
  });
});
