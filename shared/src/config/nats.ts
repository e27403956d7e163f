import { readFileSync } from 'node:fs';
import { validatePrefix } from '../channels.js';
import { ConfigError, type Env, int, oneOf, str } from './env.js';

export interface NatsConfig {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface SubjectConfig {
  prefix: string;
}

export interface StreamConfig {
  name: string;
  storage: 'memory' | 'file';
  replicas: number;
  maxAgeSeconds: number;
  maxBytes: number;
  maxMsgs: number;
  /** Per channel; RePublish on nats-server 2.9 slows with the messages stored per subject. */
  maxMsgsPerSubject: number;
  duplicateWindowSeconds: number;
}

export function natsConfig(env: Env): NatsConfig {
  const servers = (str(env, 'NATS_URL') ?? 'nats://127.0.0.1:4222')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of servers) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(s) && !/^[^\s/:]+(:\d+)?$/.test(s)) {
      throw new ConfigError('NATS_URL', `Invalid NATS_URL environment variable: ${s}`);
    }
  }
  const cfg: NatsConfig = { servers };
  const user = str(env, 'NATS_USER');
  const pass = str(env, 'NATS_PASSWORD');
  const token = str(env, 'NATS_TOKEN');
  const credsFile = str(env, 'NATS_CREDS');
  if (user) cfg.user = user;
  if (pass) cfg.pass = pass;
  if (token) cfg.token = token;
  if (credsFile) {
    readable('NATS_CREDS', credsFile);
    cfg.credsFile = credsFile;
  }
  const caFile = str(env, 'NATS_TLS_CA');
  const certFile = str(env, 'NATS_TLS_CERT');
  const keyFile = str(env, 'NATS_TLS_KEY');
  if ((certFile && !keyFile) || (keyFile && !certFile)) {
    throw new ConfigError(
      certFile ? 'NATS_TLS_KEY' : 'NATS_TLS_CERT',
      'NATS_TLS_CERT and NATS_TLS_KEY must be set together',
    );
  }
  if (caFile || certFile) {
    cfg.tls = {};
    if (caFile) cfg.tls.caFile = readable('NATS_TLS_CA', caFile);
    if (certFile) cfg.tls.certFile = readable('NATS_TLS_CERT', certFile);
    if (keyFile) cfg.tls.keyFile = readable('NATS_TLS_KEY', keyFile);
  }
  return cfg;
}

function readable(name: string, path: string): string {
  try {
    readFileSync(path);
  } catch (err) {
    throw new ConfigError(
      name,
      `Invalid ${name} environment variable: cannot read ${path} (${(err as Error).message})`,
    );
  }
  return path;
}

export function subjectConfig(env: Env): SubjectConfig {
  const prefix = str(env, 'SLUICE_SUBJECT_PREFIX') ?? 'sluice';
  try {
    return { prefix: validatePrefix(prefix) };
  } catch {
    throw new ConfigError(
      'SLUICE_SUBJECT_PREFIX',
      `Invalid SLUICE_SUBJECT_PREFIX environment variable: ${prefix}`,
    );
  }
}

export function streamConfig(env: Env): StreamConfig {
  const name = str(env, 'SLUICE_STREAM_NAME') ?? 'SLUICE';
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new ConfigError('SLUICE_STREAM_NAME', `Invalid SLUICE_STREAM_NAME environment variable: ${name}`);
  }
  const maxAgeSeconds = int(env, 'SLUICE_STREAM_MAX_AGE_SECONDS', 300, { min: 1 });
  const duplicateWindowSeconds = int(env, 'SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS', 30, { min: 1 });
  if (duplicateWindowSeconds > maxAgeSeconds) {
    // JetStream rejects a dedup window longer than max_age.
    throw new ConfigError(
      'SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS',
      `Invalid SLUICE_STREAM_DUPLICATE_WINDOW_SECONDS environment variable: ${duplicateWindowSeconds} exceeds SLUICE_STREAM_MAX_AGE_SECONDS (${maxAgeSeconds})`,
    );
  }
  return {
    name,
    storage: oneOf(env, 'SLUICE_STREAM_STORAGE', ['memory', 'file'] as const, 'memory'),
    replicas: int(env, 'SLUICE_STREAM_REPLICAS', 1, { min: 1, max: 5 }),
    maxAgeSeconds,
    maxBytes: int(env, 'SLUICE_STREAM_MAX_BYTES', 256 * 1024 * 1024, { min: 1024 * 1024 }),
    maxMsgs: int(env, 'SLUICE_STREAM_MAX_MSGS', 100_000, { min: 100 }),
    maxMsgsPerSubject: int(env, 'SLUICE_STREAM_MAX_MSGS_PER_SUBJECT', 1000, { min: 1 }),
    duplicateWindowSeconds,
  };
}
