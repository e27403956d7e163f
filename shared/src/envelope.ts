/**
 * The event envelope carried on NATS (DESIGN decision 5).
 *
 * Message data = the payload bytes exactly as clients receive them in SSE `data:` lines
 * (objects re-serialised with JSON.stringify as Mastodon does, strings raw, empty when the
 * Redis message had no truthy payload). Headers carry the event name and the facts filtering
 * needs, so a gateway never parses a payload per connection.
 */
import { createHash } from 'node:crypto';

export const Header = {
  /** Deterministic id for JetStream dedup across ingest replicas. */
  MsgId: 'Nats-Msg-Id',
  /** Added by RePublish: the stream sequence, used as SSE `id:`. */
  Sequence: 'Nats-Sequence',
  Event: 'Sluice-Event',
  /** Author account id (status payloads). */
  Account: 'Sluice-Account',
  /** Domain part of the author's `acct` (absent for local accounts). */
  Domain: 'Sluice-Domain',
  /** Comma-separated mentioned account ids. */
  Mentions: 'Sluice-Mentions',
  /** Status language; absent when the status has none (null). */
  Language: 'Sluice-Lang',
  /** `1` when `account.username === account.acct` (Mastodon's "local" test), else `0`. */
  Local: 'Sluice-Local',
  /** `1` when the status has media attachments. */
  Media: 'Sluice-Media',
  /** `1` when the payload object already has an own `filtered` property (set by Rails). */
  Filtered: 'Sluice-Filtered',
  /** `1` for glitch-soc `local_only` statuses. */
  LocalOnly: 'Sluice-Local-Only',
  /** Milliseconds since the epoch when ingest received the Redis message. */
  Received: 'Sluice-Received',
} as const;

/** Facts about a status payload, extracted once by ingest. */
export interface StatusFacts {
  accountId: string | null;
  domain: string | null;
  mentions: string[];
  language: string | null;
  local: boolean;
  media: boolean;
  filtered: boolean;
  localOnly: boolean;
}

/** An event as ingest produces it and a gateway consumes it. */
export interface Envelope {
  event: string;
  /** Payload bytes as clients receive them; empty = no payload (never forwarded to streams). */
  data: Uint8Array;
  /** Present for object payloads that look like statuses. */
  status: StatusFacts | null;
  receivedAt: number;
}

/** Minimal header access shared by nats.js `MsgHdrs` and plain maps in tests. */
export interface HeaderSink {
  set(name: string, value: string): void;
}
export interface HeaderSource {
  get(name: string): string;
  has(name: string): boolean;
}

const SAFE_HEADER_VALUE = /^[\x21-\x24\x26-\x7e]*$/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * NATS header values must be printable ASCII without CR/LF; anything else is percent-encoded.
 * A lone surrogate (JSON can carry one as `"\ud800"`) becomes U+FFFD instead of throwing.
 */
export function encodeHeaderValue(value: string): string {
  if (SAFE_HEADER_VALUE.test(value)) return value;
  return encodeURIComponent(value.replace(LONE_SURROGATE, '\uFFFD'));
}

/** Like {@link encodeHeaderValue}, and also escapes the `,` that separates list items. */
function encodeListItem(value: string): string {
  return encodeHeaderValue(value).replaceAll(',', '%2C');
}

export function decodeHeaderValue(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Deterministic message id: the same Redis message gives the same id on every replica. The
 * channel's length goes first, so no two (channel, bytes) pairs hash the same input.
 */
export function messageId(channel: string, raw: Uint8Array): string {
  return createHash('sha256')
    .update(`${Buffer.byteLength(channel)}:`)
    .update(channel)
    .update(raw)
    .digest('base64url')
    .slice(0, 32);
}

export function writeHeaders(h: HeaderSink, env: Envelope, msgId: string): void {
  h.set(Header.MsgId, msgId);
  h.set(Header.Event, encodeHeaderValue(env.event));
  h.set(Header.Received, String(env.receivedAt));
  const s = env.status;
  if (!s) return;
  if (s.accountId) h.set(Header.Account, encodeHeaderValue(s.accountId));
  if (s.domain) h.set(Header.Domain, encodeHeaderValue(s.domain));
  if (s.mentions.length > 0) h.set(Header.Mentions, s.mentions.map(encodeListItem).join(','));
  if (s.language !== null) h.set(Header.Language, encodeHeaderValue(s.language));
  h.set(Header.Local, s.local ? '1' : '0');
  if (s.media) h.set(Header.Media, '1');
  if (s.filtered) h.set(Header.Filtered, '1');
  if (s.localOnly) h.set(Header.LocalOnly, '1');
}

/** Reads the envelope back from NATS headers and data. */
export function readEnvelope(h: HeaderSource | undefined, data: Uint8Array): Envelope {
  const get = (name: string): string | null => (h?.has(name) ? h.get(name) : null);
  const event = decodeHeaderValue(get(Header.Event) ?? '');
  const local = get(Header.Local);
  let status: StatusFacts | null = null;
  if (local !== null) {
    const account = get(Header.Account);
    const domain = get(Header.Domain);
    const mentions = get(Header.Mentions);
    const language = get(Header.Language);
    status = {
      accountId: account === null ? null : decodeHeaderValue(account),
      domain: domain === null ? null : decodeHeaderValue(domain),
      mentions: mentions ? mentions.split(',').map(decodeHeaderValue) : [],
      language: language === null ? null : decodeHeaderValue(language),
      local: local === '1',
      media: get(Header.Media) === '1',
      filtered: get(Header.Filtered) === '1',
      localOnly: get(Header.LocalOnly) === '1',
    };
  }
  return { event, data, status, receivedAt: Number(get(Header.Received) ?? 0) };
}

/** The stream sequence added by RePublish, or null. */
export function readSequence(h: HeaderSource | undefined): number | null {
  if (!h?.has(Header.Sequence)) return null;
  const n = Number(h.get(Header.Sequence));
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
