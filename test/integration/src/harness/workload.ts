/**
 * Mastodon-shaped traffic for end-to-end tests: 50 channels of every kind Rails publishes to
 * (plus unknown ones), messages shaped like Rails' (`{"event":…,"payload":…}`, payloads
 * double-encoded JSON strings, some object payloads, some without payload), and the reference
 * model of what a subscriber must receive for each (`expectedDelivery`), with a checker that
 * reports losses, duplicates, reordering and corruption per channel.
 */
import { channelToSubject, decodeHeaderValue, Header } from '@sluice/shared';
import { snowflake } from './env.js';
import { header, type Received, text } from './nats.js';

export interface ChannelSpec {
  channel: string;
  kind:
    | 'public'
    | 'hashtag'
    | 'user'
    | 'notifications'
    | 'list'
    | 'direct'
    | 'system'
    | 'access_token'
    | 'unknown';
  /** True when other runs could plausibly publish on the same channel name (so deliveries must carry our marker). */
  shared: boolean;
}

/**
 * Fifty channels: the six public variants, Unicode and ASCII hashtags (plain and local), home
 * timelines, notifications, lists, direct, system and access-token control channels, and
 * channels Sluice does not know. Everything except the public timelines and
 * `timeline:somethingnew:1` is unique to `runId`.
 */
export function mastodonChannels(runId: string): ChannelSpec[] {
  const out: ChannelSpec[] = [];
  for (const c of [
    'public',
    'public:local',
    'public:remote',
    'public:media',
    'public:local:media',
    'public:remote:media',
  ]) {
    out.push({ channel: `timeline:${c}`, kind: 'public', shared: true });
  }
  // Normalised tags as Rails builds them (downcased): letters, digits, `_`, U+00B7, U+200C.
  const tags = [
    `café${runId}`,
    `日本語${runId}`,
    `straße_${runId}`,
    `ελληνικά${runId}`,
    `עברית${runId}`,
    `мастодон${runId}`,
    `l·l${runId}`,
    `mastodon${runId}`,
  ];
  for (const t of tags.slice(0, 6)) {
    out.push({ channel: `timeline:hashtag:${t}`, kind: 'hashtag', shared: false });
    out.push({ channel: `timeline:hashtag:${t}:local`, kind: 'hashtag', shared: false });
  }
  out.push({ channel: `timeline:hashtag:${tags[6]}`, kind: 'hashtag', shared: false });
  out.push({ channel: `timeline:hashtag:${tags[7]}:local`, kind: 'hashtag', shared: false });
  for (let i = 0; i < 7; i++) out.push({ channel: `timeline:${snowflake()}`, kind: 'user', shared: false });
  for (let i = 0; i < 6; i++)
    out.push({ channel: `timeline:${snowflake()}:notifications`, kind: 'notifications', shared: false });
  for (let i = 0; i < 5; i++)
    out.push({ channel: `timeline:list:${snowflake()}`, kind: 'list', shared: false });
  for (let i = 0; i < 4; i++)
    out.push({ channel: `timeline:direct:${snowflake()}`, kind: 'direct', shared: false });
  for (let i = 0; i < 3; i++)
    out.push({ channel: `timeline:system:${snowflake()}`, kind: 'system', shared: false });
  for (let i = 0; i < 2; i++)
    out.push({ channel: `timeline:access_token:${snowflake()}`, kind: 'access_token', shared: false });
  out.push({ channel: 'timeline:somethingnew:1', kind: 'unknown', shared: true });
  out.push({ channel: `timeline:somethingnew:${runId}`, kind: 'unknown', shared: false });
  out.push({ channel: `timeline:public:local:${runId}`, kind: 'unknown', shared: false });
  if (out.length !== 50) throw new Error(`mastodonChannels: expected 50 channels, built ${out.length}`);
  return out;
}

export interface PlannedMessage {
  channel: string;
  /** Position of this message among its channel's messages. */
  index: number;
  /** Bytes published to Redis. */
  raw: Buffer;
  /** Expected `Sluice-Event` header. */
  event: string;
  /** Expected NATS data. */
  data: Buffer;
}

const TEXTS = [
  'Hello, fediverse! 👋🏽',
  'Ünïcödé «quotes» — and “curly” ones',
  'שלום עולם (right-to-left)',
  'line\nbreak and\ttab and \u2028 separator',
  '日本語のテキスト、絵文字 🎌',
  'escapes: \\ " / <b>html</b> &amp;',
  'combining: e\u0301 vs é, zero width joiner 👩‍👩‍👧',
];
const LANGS = ['en', 'de', 'ja', null, 'he'];

/** A status-shaped object as Mastodon's REST API renders it (the parts filtering looks at). */
function status(marker: string, n: number, ch: number): Record<string, unknown> {
  const remote = n % 3 === 0;
  return {
    id: `${110_000_000_000_000_000n + BigInt(ch) * 1_000_000n + BigInt(n)}`,
    created_at: '2026-01-02T03:04:05.000Z',
    in_reply_to_id: null,
    sensitive: false,
    spoiler_text: '',
    visibility: 'public',
    language: LANGS[n % LANGS.length],
    uri: `https://example.social/users/alice/statuses/${n}`,
    content: `<p>${TEXTS[n % TEXTS.length]} #${n}</p>`,
    account: {
      id: `10932${ch}${n % 10}`,
      username: remote ? 'bob' : 'alice',
      acct: remote ? 'bob@remote.example' : 'alice',
      display_name: 'Ålice ✨',
    },
    media_attachments:
      n % 5 === 0 ? [{ id: `7${n}`, type: 'image', url: 'https://example.social/m.png' }] : [],
    mentions: n % 4 === 0 ? [{ id: `4242${n}`, username: 'carol', acct: 'carol' }] : [],
    tags: [],
    emojis: [],
    sluice_test: marker,
  };
}

/** The marker every message of a run carries in its payload (when it has one). */
export function runMarker(runId: string): string {
  return `sluice-test-${runId}`;
}

/** Builds message `n` of channel `spec` (the `ch`-th channel of the run). */
export function makeMessage(runId: string, spec: ChannelSpec, ch: number, n: number): PlannedMessage {
  const marker = `${runMarker(runId)}-${ch}-${n}`;
  let raw: string;
  const queued_at = 1_767_000_000_000 + n;
  switch (spec.kind) {
    case 'notifications':
      raw = JSON.stringify({
        event: 'notification',
        payload: JSON.stringify({
          id: `${n}`,
          type: 'mention',
          status: status(marker, n, ch),
          sluice_test: marker,
        }),
        queued_at,
      });
      break;
    case 'system':
      // Mostly payload-less control events; a few with an empty payload or a string payload.
      if (n % 4 === 1) raw = JSON.stringify({ event: 'announcement.delete', payload: `${900_000 + n}` });
      else if (n % 4 === 3) raw = JSON.stringify({ event: 'filters_changed', payload: '', n });
      else raw = JSON.stringify({ event: 'filters_changed', n });
      break;
    case 'access_token':
      raw = JSON.stringify({ event: 'kill', n });
      break;
    default: {
      const k = n % 7;
      if (k === 3) {
        raw = JSON.stringify({
          event: 'status.update',
          payload: JSON.stringify(status(marker, n, ch)),
          queued_at,
        });
      } else if (k === 5) {
        // An object payload: clients get JSON.stringify(payload). Integer-like keys move to the
        // front and escapes are re-serialised, so forwarding the raw JSON text would differ.
        raw =
          `{"event":"announcement","payload":{"content":"caf\\u00e9 ${n}","7":"seven","id":"${n}",` +
          `"sluice_test":"${marker}","nested":{"b":[1,2.5,"x"],"1":null}}}`;
      } else if (k === 6 && !spec.shared) {
        raw = JSON.stringify({ event: 'delete', payload: `${120_000_000_000_000_000n + BigInt(n)}` });
      } else {
        raw = JSON.stringify({ event: 'update', payload: JSON.stringify(status(marker, n, ch)), queued_at });
      }
    }
  }
  const rawBuf = Buffer.from(raw, 'utf8');
  const { event, data } = expectedDelivery(rawBuf);
  return { channel: spec.channel, index: n, raw: rawBuf, event, data };
}

/**
 * The reference model (what Mastodon's streaming server sends): the `event`, and as data the
 * payload: objects re-serialised with JSON.stringify, strings as they are, nothing when the
 * payload is missing or falsy.
 */
export function expectedDelivery(raw: Buffer): { event: string; data: Buffer } {
  const msg = JSON.parse(raw.toString('utf8')) as { event: string; payload?: unknown };
  const p = msg.payload;
  let data = '';
  if (p && typeof p === 'object') data = JSON.stringify(p);
  else if (typeof p === 'string') data = p;
  else if (p) data = String(p);
  return { event: msg.event, data: Buffer.from(data, 'utf8') };
}

/** `total` messages spread round-robin over `channels`, in publishing order. */
export function planMessages(runId: string, channels: ChannelSpec[], total: number): PlannedMessage[] {
  const out: PlannedMessage[] = [];
  const next = new Array<number>(channels.length).fill(0);
  for (let i = 0; i < total; i++) {
    const ch = i % channels.length;
    out.push(makeMessage(runId, channels[ch]!, ch, next[ch]!++));
  }
  return out;
}

/**
 * Keeps deliveries that belong to this run: on our subjects, and on channels other runs could
 * share, only messages carrying our marker.
 */
export function ownDeliveries(
  prefix: string,
  runId: string,
  channels: ChannelSpec[],
): (m: Received) => boolean {
  const subjects = new Map(channels.map((c) => [channelToSubject(prefix, 'ev', c.channel), c]));
  const marker = runMarker(runId);
  return (m) => {
    const spec = subjects.get(m.subject);
    if (!spec) return m.subject.startsWith(`${prefix}.`); // ours but unexpected: keep, the checker reports it
    return !spec.shared || text(m).includes(marker);
  };
}

/**
 * Messages read from the stream (`<prefix>.in.…` subjects) as an `ev` subscriber would see them,
 * so `verifyDeliveries` can check what the stream stored, in stream order.
 */
export function asRepublished(prefix: string, stored: readonly Received[]): Received[] {
  const from = `${prefix}.in.`;
  return stored.map((m) =>
    m.subject.startsWith(from) ? { ...m, subject: `${prefix}.ev.${m.subject.slice(from.length)}` } : m,
  );
}

export interface DeliveryReport {
  expected: number;
  received: number;
  missing: number;
  duplicated: number;
  /** Received on our subjects but matching no planned message (wrong bytes, wrong event, wrong subject). */
  corrupted: number;
  /** Channels whose messages arrived complete but in a different order. */
  reorderedChannels: number;
  /** The first few problems, readable. */
  problems: string[];
}

/**
 * Compares what a subscriber on `<prefix>.ev.>` received with what was planned: per channel,
 * the received sequence of (event header, data bytes) must equal the planned one exactly.
 */
export function verifyDeliveries(
  prefix: string,
  planned: PlannedMessage[],
  received: readonly Received[],
): DeliveryReport {
  const report: DeliveryReport = {
    expected: planned.length,
    received: received.length,
    missing: 0,
    duplicated: 0,
    corrupted: 0,
    reorderedChannels: 0,
    problems: [],
  };
  const problem = (s: string) => {
    if (report.problems.length < 12) report.problems.push(s);
  };
  const key = (event: string, data: Uint8Array) => `${event}\u0000${Buffer.from(data).toString('base64')}`;
  const expectedBySubject = new Map<string, { channel: string; keys: string[] }>();
  for (const p of planned) {
    const subject = channelToSubject(prefix, 'ev', p.channel);
    let e = expectedBySubject.get(subject);
    if (!e) {
      e = { channel: p.channel, keys: [] };
      expectedBySubject.set(subject, e);
    }
    e.keys.push(key(p.event, p.data));
  }
  const receivedBySubject = new Map<string, string[]>();
  for (const m of received) {
    const event = decodeHeaderValue(header(m, Header.Event) ?? '');
    let r = receivedBySubject.get(m.subject);
    if (!r) {
      r = [];
      receivedBySubject.set(m.subject, r);
    }
    r.push(key(event, m.data));
  }
  for (const [subject, got] of receivedBySubject) {
    if (!expectedBySubject.has(subject)) {
      report.corrupted += got.length;
      problem(`${got.length} message(s) on unexpected subject ${subject}`);
    }
  }
  for (const [subject, { channel, keys: want }] of expectedBySubject) {
    const got = receivedBySubject.get(subject) ?? [];
    const counts = new Map<string, number>();
    for (const k of want) counts.set(k, (counts.get(k) ?? 0) + 1);
    const wanted = new Set(want);
    for (const k of got) counts.set(k, (counts.get(k) ?? 0) - 1);
    let missing = 0;
    let dup = 0;
    let corrupt = 0;
    for (const [k, c] of counts) {
      if (c > 0) missing += c;
      else if (c < 0 && wanted.has(k)) dup += -c;
      else if (c < 0) corrupt += -c;
    }
    report.missing += missing;
    report.duplicated += dup;
    report.corrupted += corrupt;
    if (missing || dup || corrupt) {
      const sample = got.find((k) => !wanted.has(k));
      problem(
        `${channel}: expected ${want.length}, received ${got.length} (missing ${missing}, duplicated ${dup}, corrupted ${corrupt})` +
          (sample ? `; e.g. received ${describeKey(sample)}` : ''),
      );
    } else {
      const i = want.findIndex((k, idx) => got[idx] !== k);
      if (i >= 0) {
        report.reorderedChannels++;
        problem(`${channel}: all ${want.length} messages arrived, but out of order from position ${i}`);
      }
    }
  }
  return report;
}

function describeKey(k: string): string {
  const [event, b64] = k.split('\u0000') as [string, string];
  const data = Buffer.from(b64, 'base64').toString('utf8');
  return `event ${JSON.stringify(event)} data ${JSON.stringify(data.length > 120 ? data.slice(0, 120) + '…' : data)}`;
}
