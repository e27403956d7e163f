import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsConfig } from './config/index.js';

/**
 * Connects with the options every Sluice process wants: retry forever (the client's default
 * gives up after 10 attempts), wait for the first connection so a pod may start before NATS,
 * and no async stack traces on the hot publish path.
 */
export function connectNats(cfg: NatsConfig, name: string): Promise<NatsConnection> {
  return connect({
    servers: cfg.servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    waitOnFirstConnect: true,
    noAsyncTraces: true,
    pingInterval: 20_000,
    ...(cfg.user ? { user: cfg.user } : {}),
    ...(cfg.pass ? { pass: cfg.pass } : {}),
    ...(cfg.token ? { token: cfg.token } : {}),
    ...(cfg.credsFile ? { authenticator: credsAuthenticator(readFileSync(cfg.credsFile)) } : {}),
    ...(cfg.tls
      ? {
          tls: {
            ...(cfg.tls.caFile ? { caFile: cfg.tls.caFile } : {}),
            ...(cfg.tls.certFile ? { certFile: cfg.tls.certFile } : {}),
            ...(cfg.tls.keyFile ? { keyFile: cfg.tls.keyFile } : {}),
          },
        }
      : {}),
  });
}
