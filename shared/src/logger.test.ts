import { describe, expect, it } from 'vitest';
import type { LogLevel } from './config/index.js';
import { createLogger, REDACT_PATHS, redactUrl, serializeRequest } from './logger.js';

const TOKEN = 'Zq3-k_9xYb2LmN0pQr7sTuVwXyZ1a2b3c4d5e6f7g8h';

/** A logger writing synchronously into an array of parsed JSON lines. */
function capture(level: LogLevel = 'info') {
  const raw: string[] = [];
  const log = createLogger({ name: 'streaming', level, destination: { write: (s: string) => raw.push(s) } });
  const lines = () => raw.map((s) => JSON.parse(s) as Record<string, unknown>);
  return { log, raw, lines };
}

const request = () => ({
  id: 'req-1',
  method: 'GET',
  url: `/api/v1/streaming/user?access_token=${TOKEN}&stream=user`,
  headers: {
    host: 'streaming.example',
    'user-agent': 'Tusky/25',
    authorization: `Bearer ${TOKEN}`,
    'sec-websocket-protocol': TOKEN,
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    cookie: `_session_id=${TOKEN}`,
  } as Record<string, unknown>,
  query: { access_token: TOKEN, stream: 'user' },
  socket: { remoteAddress: '10.0.0.1', remotePort: 51234 },
});

describe('logger - redaction', () => {
  it('redacts credentials in headers, URL and query, keeps the rest', () => {
    const { log, raw, lines } = capture();
    log.info({ req: request() }, 'Starting stream');
    expect(raw.join('')).not.toContain(TOKEN);
    const [line] = lines();
    expect(line).toMatchObject({ level: 'info', name: 'streaming', msg: 'Starting stream' });
    expect(line?.['req']).toEqual({
      id: 'req-1',
      method: 'GET',
      url: '/api/v1/streaming/user?access_token=[Redacted]&stream=user',
      headers: {
        host: 'streaming.example',
        'user-agent': 'Tusky/25',
        authorization: '[Redacted]',
        'sec-websocket-protocol': '[Redacted]',
        'sec-websocket-key': '[Redacted]',
        cookie: '[Redacted]',
      },
      remoteAddress: '10.0.0.1',
      remotePort: 51234,
    });
  });

  it('redacts on child loggers bound to a request', () => {
    const { log, raw, lines } = capture();
    log.child({ req: request() }).warn({ account: { id: '1' } }, 'Received binary data, closing connection');
    expect(raw.join('')).not.toContain(TOKEN);
    expect(lines()[0]).toMatchObject({
      level: 'warn',
      req: {
        url: '/api/v1/streaming/user?access_token=[Redacted]&stream=user',
        headers: { authorization: '[Redacted]' },
      },
    });
  });

  it('never logs the query object, wherever the token sits in it', () => {
    const { log, raw } = capture();
    log.info(
      { req: { url: '/api/v1/streaming', headers: {}, query: { access_token: TOKEN } } },
      'query only',
    );
    expect(raw.join('')).not.toContain(TOKEN);
    expect(REDACT_PATHS).toContain('req.query.access_token');
  });

  it('does not modify the request it logs', () => {
    const { log } = capture();
    const req = request();
    log.info({ req }, 'x');
    expect(req.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(req.url).toContain(TOKEN);
  });

  it('a request without credentials is logged as is', () => {
    const { log, lines } = capture();
    log.info({ req: { method: 'GET', url: '/api/v1/streaming/health', headers: { host: 'h' } } }, 'health');
    expect(lines()[0]?.['req']).toEqual({
      method: 'GET',
      url: '/api/v1/streaming/health',
      headers: { host: 'h' },
    });
  });
});

describe('logger - redactUrl', () => {
  it.each([
    [`/?access_token=${TOKEN}`, '/?access_token=[Redacted]'],
    [
      `/api/v1/streaming?stream=user&access_token=${TOKEN}`,
      '/api/v1/streaming?stream=user&access_token=[Redacted]',
    ],
    [`/x?access_token=${TOKEN}&tag=foo`, '/x?access_token=[Redacted]&tag=foo'],
    ['/x?access_token=a.b~c%2Bd+e&x=1', '/x?access_token=[Redacted]&x=1'],
    ['/x?access_token=&x=1', '/x?access_token=[Redacted]&x=1'],
    ['/x?access_token=a&access_token=b', '/x?access_token=[Redacted]&access_token=[Redacted]'],
    [
      `wss://streaming.example/api/v1/streaming/?access_token=${TOKEN}#f`,
      'wss://streaming.example/api/v1/streaming/?access_token=[Redacted]#f',
    ],
    ['/api/v1/streaming/public?only_media=true', '/api/v1/streaming/public?only_media=true'],
  ])('%s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('undefined stays undefined', () => {
    expect(redactUrl(undefined)).toBeUndefined();
  });

  it('serializeRequest keeps only the safe fields', () => {
    const out = serializeRequest(request());
    expect(Object.keys(out).sort()).toEqual([
      'headers',
      'id',
      'method',
      'remoteAddress',
      'remotePort',
      'url',
    ]);
    expect(out['url']).not.toContain(TOKEN);
  });
});

describe('logger - format', () => {
  it('level as label, errors serialised, levels below the threshold dropped', () => {
    const { log, lines } = capture('warn');
    log.info('hidden');
    log.error({ err: new Error('boom') }, 'failed');
    const all = lines();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ level: 'error', msg: 'failed', err: { type: 'Error', message: 'boom' } });
    expect(typeof all[0]?.['time']).toBe('number');
  });
});
