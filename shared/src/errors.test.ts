import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CloseCode, type ErrorSpec, Errors, publicError, StreamingError } from './errors.js';

const DOC_PATH = new URL('../../docs/errors.md', import.meta.url);
const doc = readFileSync(DOC_PATH, 'utf8');

/** Every table row of the page, as trimmed cells with surrounding backticks removed. */
const rows: string[][] = doc
  .split('\n')
  .filter((line) => /^\|.*\|\s*$/.test(line) && !/^\|\s*-/.test(line))
  .map((line) =>
    line
      .trim()
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim().replace(/^`(.*)`$/, '$1')),
  );

const specs = Object.entries(Errors) as [string, ErrorSpec][];

describe('errors - registry', () => {
  it('codes are unique and follow SLUICE_ERR_<AREA>_<WHAT>', () => {
    const codes = specs.map(([, s]) => s.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^SLUICE_ERR_[A-Z]+_[A-Z_]+$/);
  });

  it('statuses are HTTP error statuses and messages are non-empty single lines', () => {
    for (const [name, s] of specs) {
      expect(s.status, name).toBeGreaterThanOrEqual(400);
      expect(s.status, name).toBeLessThan(600);
      expect(s.message, name).toMatch(/^[^\r\n]+$/);
    }
  });

  it('messages are the ones Mastodon clients see (spec §3.5, §4.1, §4.5)', () => {
    expect(Errors.UnknownChannel).toMatchObject({ status: 400, message: 'Unknown channel requested' });
    expect(Errors.UnknownStream).toMatchObject({ status: 400, message: 'Unknown stream type' });
    expect(Errors.MissingToken).toMatchObject({ status: 401, message: 'Missing access token' });
    expect(Errors.InvalidToken).toMatchObject({ status: 401, message: 'Invalid access token' });
    expect(Errors.MissingScope).toMatchObject({
      status: 401,
      message: 'Access token does not have the required scopes',
    });
    expect(Errors.MissingTag).toMatchObject({ status: 400, message: 'Missing tag name parameter' });
    expect(Errors.MissingList).toMatchObject({ status: 400, message: 'Missing list name parameter' });
    expect(Errors.ListNotAuthorized).toMatchObject({
      status: 401,
      message: 'Not authorized to stream this list',
    });
    expect(Errors.Unexpected).toMatchObject({ status: 500, message: 'An unexpected error occurred' });
    expect(Errors.Unsubscribe).toMatchObject({ message: 'Error unsubscribing from channel' });
  });
});

describe('errors - docs/errors.md', () => {
  it.each(specs)('documents %s with its status and exact message', (_name, spec) => {
    const row = rows.find((cells) => cells[0] === spec.code);
    if (!row) throw new Error(`${spec.code} is not documented in docs/errors.md`);
    expect(row[1], `status of ${spec.code}`).toBe(String(spec.status));
    expect(row[2], `message of ${spec.code}`).toBe(spec.message);
    expect(row[3], `where ${spec.code} appears`).toMatch(/SSE|WS frame|WS upgrade/);
  });

  it('documents no code the registry lacks', () => {
    const known = new Set(specs.map(([, s]) => s.code));
    const documented = [...doc.matchAll(/SLUICE_ERR_[A-Z][A-Z_]*/g)].map((m) => m[0]);
    expect(documented.filter((code) => !known.has(code))).toEqual([]);
  });

  it.each(Object.entries(CloseCode))('documents close code %s with its code and reason', (name, close) => {
    const row = rows.find((cells) => cells[0] === name);
    if (!row) throw new Error(`close code ${name} is not documented in docs/errors.md`);
    expect(row[1]).toBe(String(close.code));
    expect(row[2]).toBe(close.reason);
    expect(row[3]?.length).toBeGreaterThan(0);
  });
});

describe('errors - close codes', () => {
  it('are distinct, in the range RFC 6455 lets servers send, with reasons under 123 bytes', () => {
    const codes = Object.values(CloseCode).map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of Object.values(CloseCode)) {
      expect([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]).toContain(c.code);
      expect(Buffer.byteLength(c.reason)).toBeLessThanOrEqual(123);
    }
  });

  it('keep Mastodon’s binary-frame close and drain = 1012', () => {
    expect(CloseCode.Unsupported).toEqual({
      code: 1003,
      reason: 'The mastodon streaming server does not support binary messages',
    });
    expect(CloseCode.Restart.code).toBe(1012);
  });
});

describe('errors - StreamingError and publicError', () => {
  it('carries code, status, message and cause', () => {
    const cause = new Error('db down');
    const err = new StreamingError(Errors.InvalidToken, { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('StreamingError');
    expect(err.message).toBe('Invalid access token');
    expect(err.code).toBe('SLUICE_ERR_AUTH_INVALID_TOKEN');
    expect(err.status).toBe(401);
    expect(err.cause).toBe(cause);
  });

  it('publicError passes known errors through and hides the rest behind a 500', () => {
    const known = new StreamingError(Errors.MissingTag);
    expect(publicError(known)).toBe(known);
    for (const thrown of [new Error('password=hunter2'), 'string', null, undefined, { status: 401 }]) {
      const err = publicError(thrown);
      expect(err).toBeInstanceOf(StreamingError);
      expect(err.status).toBe(500);
      expect(err.message).toBe('An unexpected error occurred');
      expect(err.code).toBe(Errors.Unexpected.code);
      expect(err.cause).toBe(thrown);
    }
  });
});
