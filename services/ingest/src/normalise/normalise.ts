/**
 * Parse once, normalise once (DESIGN decision 5). Turns one raw Redis message into the
 * envelope every gateway consumes: payload bytes as clients receive them, plus the facts
 * filtering needs. Mastodon's server re-serialises object payloads with JSON.stringify
 * (spec §7.5), so we do the same here, once, instead of per connection.
 */
import { isUtf8 } from 'node:buffer';
import type { Envelope, StatusFacts } from '@sluice/shared';
import type { InvalidReason } from '../metrics.js';

export type Normalised =
  | { ok: true; envelope: Envelope }
  | { ok: false; reason: InvalidReason; detail?: string };

const EMPTY = new Uint8Array(0);
const STATUS_EVENTS = new Set(['update', 'status.update']);

export function normalise(raw: Uint8Array, receivedAt: number): Normalised {
  if (raw.byteLength === 0) return { ok: false, reason: 'empty' };
  if (!isUtf8(raw)) return { ok: false, reason: 'invalid_utf8' };
  let msg: unknown;
  try {
    msg = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message };
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg))
    return { ok: false, reason: 'missing_event' };
  const { event, payload } = msg as { event?: unknown; payload?: unknown };
  if (typeof event !== 'string' || event === '') return { ok: false, reason: 'missing_event' };

  let data: Uint8Array = EMPTY;
  let status: StatusFacts | null = null;
  // Mastodon drops messages whose payload is missing or falsy from streams; an empty body
  // carries that fact, and system channels still see the event (kill, filters_changed).
  if (payload) {
    if (typeof payload === 'string') data = Buffer.from(payload, 'utf8');
    else if (typeof payload === 'object') {
      data = Buffer.from(JSON.stringify(payload), 'utf8');
      if (STATUS_EVENTS.has(event) && !Array.isArray(payload))
        status = statusFacts(payload as Record<string, unknown>);
    } else data = Buffer.from(String(payload), 'utf8');
  }
  return { ok: true, envelope: { event, data, status, receivedAt } };
}

function statusFacts(p: Record<string, unknown>): StatusFacts {
  const account = (typeof p['account'] === 'object' && p['account'] !== null ? p['account'] : {}) as Record<
    string,
    unknown
  >;
  const acct = typeof account['acct'] === 'string' ? account['acct'] : '';
  const at = acct.indexOf('@');
  const mentions = Array.isArray(p['mentions'])
    ? (p['mentions'] as unknown[])
        .map((m) => (typeof m === 'object' && m !== null ? (m as Record<string, unknown>)['id'] : undefined))
        .filter((id): id is string => typeof id === 'string' && id !== '')
    : [];
  return {
    accountId: typeof account['id'] === 'string' ? account['id'] : null,
    // Mastodon checks domain blocks against `acct.split('@')[1]`.
    domain: at >= 0 ? (acct.split('@')[1] ?? null) : null,
    mentions,
    language: typeof p['language'] === 'string' ? p['language'] : null,
    // Mastodon's "local" test for feed access (spec §8 step 1).
    local: account['username'] === account['acct'],
    media: Array.isArray(p['media_attachments']) && p['media_attachments'].length > 0,
    filtered: Object.hasOwn(p, 'filtered'),
    localOnly: Boolean(p['local_only']),
  };
}
