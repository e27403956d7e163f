/**
 * Starts the Sluice processes under test (`node services/<kind>/dist/main.js`, built beforehand)
 * with a subject prefix, stream name and Redis namespace of their own, waits until they are
 * ready, and stops them. Logs go to a file per process under bench/results/tmp/<run>/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from '../env.js';
import { httpGet } from '../measure/prometheus.js';

export type ServiceKind = 'ingest' | 'gateway';

export interface Service {
  kind: ServiceKind;
  name: string;
  pid: number;
  port: number;
  url: string;
  logFile: string;
  exited: Promise<number | null>;
  running(): boolean;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no free port'))));
    });
  });
}

export function serviceMain(kind: ServiceKind): string {
  return join(REPO_ROOT, 'services', kind, 'dist', 'main.js');
}

export function serviceBuilt(main: string): boolean {
  return existsSync(main);
}

/** Node flags each service runs with when deployed (Dockerfile CMD, Helm chart, `npm start`). */
const DEPLOYED_NODE_FLAGS: Record<ServiceKind, readonly string[]> = {
  gateway: ['--max-semi-space-size=8', '--heap-growing-percent=50', '--expose-gc'],
  ingest: [],
};

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export async function startService(
  kind: ServiceKind,
  name: string,
  env: Record<string, string>,
  logDir: string,
  nodeArgs: string[] = [],
  main = serviceMain(kind),
): Promise<Service> {
  if (!existsSync(main)) throw new Error(`${main} does not exist: build first (npm run build)`);
  const portVar = kind === 'gateway' ? 'PORT' : 'SLUICE_INGEST_PORT';
  const port = Number(env[portVar] ?? (await freePort()));
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [...DEPLOYED_NODE_FLAGS[kind], ...nodeArgs, main], {
    cwd: REPO_ROOT,
    env: { ...env, [portVar]: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      children.delete(child);
      resolve(code);
    }),
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return {
    kind,
    name,
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    logFile,
    exited,
    running: () => running,
  };
}

export function tailLog(s: Service, lines = 15): string {
  try {
    return readFileSync(s.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls the readiness endpoint (ingest `/health`, gateway `/readyz`) until it answers 200. */
export async function waitReady(s: Service, timeoutMs = 30_000): Promise<number> {
  const path = s.kind === 'gateway' ? '/readyz' : '/health';
  const t0 = Date.now();
  let last = 'no answer';
  while (Date.now() - t0 < timeoutMs) {
    if (!s.running()) throw new Error(`${s.name} exited while starting; last log lines:\n${tailLog(s)}`);
    try {
      const r = await httpGet(s.url + path, 1000);
      if (r.status === 200) return Date.now() - t0;
      last = `${r.status} ${r.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${s.name} ${path} not ready after ${timeoutMs} ms (${last}); log:\n${tailLog(s)}`);
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stopService(s: Service, graceMs = 10_000): Promise<number | null> {
  if (!s.running()) return s.exited;
  process.kill(s.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (s.running()) process.kill(s.pid, 'SIGKILL');
  }, graceMs);
  const code = await s.exited;
  clearTimeout(timer);
  return code;
}
