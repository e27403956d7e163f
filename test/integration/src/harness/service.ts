/**
 * Runs a real Sluice service process (`node services/<kind>/dist/main.js`, built beforehand) with a
 * controlled environment, captures its logs, and talks to its health and metrics endpoints.
 * Every process started here is killed after each test by `setup.ts`, whatever the test did.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, servers } from './env.js';
import { type Metrics, parseMetrics } from './prom.js';
import { deferred, pollUntil, WaitTimeoutError, withTimeout } from './wait.js';

export type ServiceKind = 'ingest' | 'gateway';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface HttpResult {
  status: number;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

export interface ServiceHandle {
  readonly kind: ServiceKind;
  readonly pid: number;
  /** HTTP port: `PORT` for the gateway, `SLUICE_INGEST_PORT` for ingest. */
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The full environment the process was started with. */
  readonly env: Readonly<Record<string, string>>;
  /** Every output line so far: stdout as is, stderr prefixed with `[stderr] `. */
  readonly logs: string[];
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  readonly running: boolean;
  /** Stdout lines that are JSON objects (pino logs). */
  jsonLogs(): Record<string, unknown>[];
  /** Resolves with the first line (past or future) matching `re`; rejects on timeout or exit. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the readiness endpoint (ingest `/health`, gateway `/readyz`) answers 200. */
  waitForHealthy(timeoutMs?: number): Promise<void>;
  /** Resolves once the readiness endpoint answers something other than 200. */
  waitForUnhealthy(timeoutMs?: number): Promise<HttpResult>;
  /** The readiness endpoint's current answer. */
  health(): Promise<HttpResult>;
  get(path: string): Promise<HttpResult>;
  metrics(): Promise<Metrics>;
  /** One metric (summed over the label sets matching `labels`); throws if it is not exported. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code; SIGKILLs and throws after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL, resolves once the process is gone. */
  kill(): Promise<ExitInfo>;
}

const live = new Set<ServiceHandle>();
const children = new Set<ChildProcess>();

/** Environment variables passed through from the test runner; everything else is explicit. */
const PASS_THROUGH = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ'];

/**
 * Starts `services/<kind>/dist/main.js`. `env` must name the test's own subject prefix and stream
 * (`testScope().env`), so a test can never publish into another test's or a developer's stream.
 * Base environment: NODE_ENV=development, LOG_LEVEL=info, an empty temporary MASTODON_ROOT (no
 * `.env` file can leak in), the servers' URLs, and a free port; `env` overrides all of it, and a
 * variable set to `undefined` in `env` is removed (e.g. `DATABASE_URL: undefined` to test `DB_*`).
 */
export async function startService(
  kind: ServiceKind,
  env: Record<string, string | undefined>,
): Promise<ServiceHandle> {
  if (!env['SLUICE_SUBJECT_PREFIX'] || !env['SLUICE_STREAM_NAME']) {
    throw new Error('startService: pass SLUICE_SUBJECT_PREFIX and SLUICE_STREAM_NAME (use testScope().env)');
  }
  const main = join(REPO_ROOT, 'services', kind, 'dist', 'main.js');
  if (!existsSync(main)) {
    throw new Error(`startService: ${main} does not exist; build first (npm run build)`);
  }
  const portVar = kind === 'gateway' ? 'PORT' : 'SLUICE_INGEST_PORT';
  const port = env[portVar] ? Number(env[portVar]) : await freePort();
  const overrides: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) overrides[k] = v;
  const root = mkdtempSync(join(tmpdir(), `sluice-${kind}-root-`));
  const s = servers();
  const fullEnv: Record<string, string> = {};
  for (const k of PASS_THROUGH) {
    const v = process.env[k];
    if (v !== undefined) fullEnv[k] = v;
  }
  Object.assign(
    fullEnv,
    {
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      MASTODON_ROOT: root,
      REDIS_URL: s.redisUrl,
      NATS_URL: s.natsUrl,
      DATABASE_URL: s.databaseUrl,
      [portVar]: String(port),
    },
    overrides,
  );
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete fullEnv[k];

  const child = spawn(process.execPath, [main], {
    cwd: REPO_ROOT,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exitDeferred = deferred<ExitInfo>();
  const logs: string[] = [];
  const lineListeners = new Set<(line: string) => void>();
  const exitListeners = new Set<(info: ExitInfo) => void>();
  let running = true;

  const onLine = (line: string) => {
    logs.push(line);
    for (const l of lineListeners) l(line);
  };
  splitLines(child.stdout!, (line) => onLine(line));
  splitLines(child.stderr!, (line) => onLine(`[stderr] ${line}`));
  const spawnError = deferred<void>();
  child.once('error', (err) => {
    onLine(`[harness] spawn error: ${err.message}`);
    spawnError.reject(err);
  });
  child.once('spawn', () => spawnError.resolve());
  child.once('exit', (code, signal) => {
    running = false;
    children.delete(child);
    const info = { code, signal };
    exitDeferred.resolve(info);
    for (const l of exitListeners) l(info);
    rmSync(root, { recursive: true, force: true });
  });
  await spawnError.promise;

  const url = `http://127.0.0.1:${port}`;
  const healthPath = kind === 'gateway' ? '/readyz' : '/health';
  const describe = () => `${kind} (pid ${child.pid}, port ${port})`;
  const tail = (n = 25) =>
    logs
      .slice(-n)
      .map((l) => (l.length > 600 ? `${l.slice(0, 600)}… (${l.length} chars)` : l))
      .join('\n');

  const get = async (path: string): Promise<HttpResult> => {
    const res = await fetch(url + path, { signal: AbortSignal.timeout(3000) });
    const body = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    return { status: res.status, body, json };
  };

  /** Rejects as soon as the process exits, so a crash is reported at once, with its logs. */
  const unlessExited = <T>(p: Promise<T>, what: string): Promise<T> =>
    Promise.race([
      p,
      exitDeferred.promise.then((info) => {
        throw new Error(
          `${describe()} exited (code ${info.code}, signal ${info.signal}) while ${what}; last logs:\n${tail()}`,
        );
      }),
    ]);

  const handle: ServiceHandle = {
    kind,
    pid: child.pid!,
    port,
    url,
    env: fullEnv,
    logs,
    exited: exitDeferred.promise,
    get running() {
      return running;
    },
    jsonLogs() {
      const out: Record<string, unknown>[] = [];
      for (const line of logs) {
        if (!line.startsWith('{')) continue;
        try {
          const v = JSON.parse(line) as unknown;
          if (v && typeof v === 'object') out.push(v as Record<string, unknown>);
        } catch {
          // not a log record
        }
      }
      return out;
    },
    waitForLog(re, timeoutMs = 10_000) {
      const found = logs.find((l) => re.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<string>((resolve, reject) => {
        const cleanup = () => {
          clearTimeout(timer);
          lineListeners.delete(onLineListener);
          exitListeners.delete(onExit);
        };
        const onLineListener = (line: string) => {
          if (re.test(line)) {
            cleanup();
            resolve(line);
          }
        };
        const onExit = (info: ExitInfo) => {
          cleanup();
          reject(
            new Error(
              `${describe()} exited (code ${info.code}, signal ${info.signal}) before logging ${re}; last logs:\n${tail()}`,
            ),
          );
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new WaitTimeoutError(
              `${describe()} did not log ${re} within ${timeoutMs} ms; last logs:\n${tail()}`,
            ),
          );
        }, timeoutMs);
        lineListeners.add(onLineListener);
        exitListeners.add(onExit);
      });
    },
    async waitForHealthy(timeoutMs = 15_000) {
      await unlessExited(
        pollUntil(
          `${describe()} ${healthPath} to answer 200`,
          async () => (await get(healthPath)).status === 200,
          {
            timeoutMs,
            intervalMs: 50,
          },
        ).catch((err: Error) => {
          throw new Error(`${err.message}; last logs:\n${tail()}`);
        }),
        `waiting for ${healthPath} 200`,
      );
    },
    async waitForUnhealthy(timeoutMs = 15_000) {
      return unlessExited(
        pollUntil(
          `${describe()} ${healthPath} to answer non-200`,
          async () => {
            const r = await get(healthPath);
            return r.status !== 200 ? r : undefined;
          },
          { timeoutMs, intervalMs: 25 },
        ),
        `waiting for ${healthPath} to fail`,
      );
    },
    health: () => get(healthPath),
    get,
    async metrics() {
      const r = await get('/metrics');
      if (r.status !== 200) throw new Error(`${describe()} /metrics answered ${r.status}`);
      return parseMetrics(r.body);
    },
    async metric(name, labels) {
      return (await handle.metrics()).value(name, labels);
    },
    async stop(signal = 'SIGTERM', timeoutMs = 20_000) {
      if (running) child.kill(signal);
      try {
        return (await withTimeout(exitDeferred.promise, timeoutMs, `${describe()} to exit after ${signal}`))
          .code;
      } catch (err) {
        child.kill('SIGKILL');
        await exitDeferred.promise;
        throw err;
      }
    },
    async kill() {
      if (running) child.kill('SIGKILL');
      return exitDeferred.promise;
    },
  };
  live.add(handle);
  void exitDeferred.promise.then(() => live.delete(handle));
  return handle;
}

/** Service handles whose process is still running. */
export function liveServices(): ServiceHandle[] {
  return [...live];
}

/** SIGKILLs every service process this worker started that is still running. */
export async function killAllServices(): Promise<void> {
  await Promise.all([...live].map((h) => withTimeout(h.kill(), 10_000, `${h.kind} pid ${h.pid} to die`)));
}

// If the worker itself goes away, take the services with it.
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** A free TCP port on loopback (released again before the service binds it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no free port'))));
    });
  });
}

function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let i = rest.indexOf('\n');
    while (i >= 0) {
      onLine(rest.slice(0, i));
      rest = rest.slice(i + 1);
      i = rest.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (rest) onLine(rest);
    rest = '';
  });
}
