import { type DestinationStream, destination, type Logger, pino, stdSerializers } from 'pino';
import type { LogLevel } from './config/index.js';

export type { Logger } from 'pino';

/** Mastodon's redactions (spec §10): tokens never reach the logs. */
export const REDACT_PATHS = [
  'req.headers["sec-websocket-key"]',
  'req.headers["sec-websocket-protocol"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query.access_token',
];

const TOKEN_IN_URL = /access_token=[A-Za-z0-9_\-.~%+]*/g;

export function redactUrl(url: string | undefined): string | undefined {
  return url?.replace(TOKEN_IN_URL, 'access_token=[Redacted]');
}

/** The request fields we log: never the raw URL, never credentials. */
export function serializeRequest(req: {
  id?: unknown;
  method?: string;
  url?: string;
  headers: Record<string, unknown>;
  socket?: { remoteAddress?: string | undefined; remotePort?: number | undefined };
}): Record<string, unknown> {
  return {
    id: req.id,
    method: req.method,
    url: redactUrl(req.url),
    headers: req.headers,
    remoteAddress: req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}

/**
 * JSON lines on stdout, level as label like Mastodon (`"level":"info"`), `name` per process.
 * `destination` exists for tests.
 */
export function createLogger(opts: {
  name: string;
  level: LogLevel;
  destination?: DestinationStream;
}): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err, req: serializeRequest },
    },
    opts.destination ?? destination({ fd: 1, sync: false }),
  );
}
