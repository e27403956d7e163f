/**
 * One registry of the errors clients can see: code, HTTP status and the exact message
 * Mastodon's server sends (spec §3.5, §4.5). `docs/errors.md` documents every code; a test
 * fails when one is missing there.
 */

export interface ErrorSpec {
  readonly code: string;
  readonly status: number;
  readonly message: string;
}

export const Errors = {
  UnknownChannel: {
    code: 'SLUICE_ERR_HTTP_UNKNOWN_CHANNEL',
    status: 400,
    message: 'Unknown channel requested',
  },
  UnknownStream: { code: 'SLUICE_ERR_WS_UNKNOWN_STREAM', status: 400, message: 'Unknown stream type' },
  MissingToken: { code: 'SLUICE_ERR_AUTH_MISSING_TOKEN', status: 401, message: 'Missing access token' },
  InvalidToken: { code: 'SLUICE_ERR_AUTH_INVALID_TOKEN', status: 401, message: 'Invalid access token' },
  MissingScope: {
    code: 'SLUICE_ERR_AUTH_MISSING_SCOPE',
    status: 401,
    message: 'Access token does not have the required scopes',
  },
  MissingTag: { code: 'SLUICE_ERR_STREAM_MISSING_TAG', status: 400, message: 'Missing tag name parameter' },
  MissingList: {
    code: 'SLUICE_ERR_STREAM_MISSING_LIST',
    status: 400,
    message: 'Missing list name parameter',
  },
  ListNotAuthorized: {
    code: 'SLUICE_ERR_STREAM_LIST_FORBIDDEN',
    status: 401,
    message: 'Not authorized to stream this list',
  },
  Unexpected: {
    code: 'SLUICE_ERR_INTERNAL_UNEXPECTED',
    status: 500,
    message: 'An unexpected error occurred',
  },
  Unsubscribe: {
    code: 'SLUICE_ERR_WS_UNSUBSCRIBE',
    status: 500,
    message: 'Error unsubscribing from channel',
  },
  NotFound: { code: 'SLUICE_ERR_HTTP_NOT_FOUND', status: 404, message: 'Not found' },
  Draining: { code: 'SLUICE_ERR_HTTP_DRAINING', status: 503, message: 'Server is shutting down' },
} as const satisfies Record<string, ErrorSpec>;

/** An error whose message may be shown to the client. */
export class StreamingError extends Error {
  override readonly name = 'StreamingError';
  readonly code: string;
  readonly status: number;
  constructor(spec: ErrorSpec, options?: { cause?: unknown }) {
    super(spec.message, options);
    this.code = spec.code;
    this.status = spec.status;
  }
}

/** Maps any thrown value to what the client may see: known errors as-is, the rest as 500. */
export function publicError(err: unknown): StreamingError {
  return err instanceof StreamingError ? err : new StreamingError(Errors.Unexpected, { cause: err });
}

/** WebSocket close codes Sluice uses, with reasons (RFC 6455 §7.4). */
export const CloseCode = {
  /** Binary frame received (Mastodon: 1003 with this reason). */
  Unsupported: { code: 1003, reason: 'The mastodon streaming server does not support binary messages' },
  /** Send buffer overflow: the client did not read fast enough. */
  SlowClient: { code: 1008, reason: 'Client too slow: send buffer full' },
  /** Drain on SIGTERM: reconnect elsewhere. */
  Restart: { code: 1012, reason: 'Server restarting' },
} as const;
