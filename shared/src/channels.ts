/**
 * Redis channel ⇄ NATS subject mapping (DESIGN decision 4).
 *
 * Channels are Mastodon's Redis channel names *without* any `REDIS_NAMESPACE` prefix, e.g.
 * `timeline:public:local`, `timeline:hashtag:café:local`, `timeline:123:notifications`.
 * A subject is `<prefix>.<kind>.<tokens…>` where kind is `in` (what ingest publishes into the
 * JetStream stream) or `ev` (what the stream republishes and gateways subscribe to).
 *
 * One subject token per channel part, so that operators and gateways can use wildcards
 * (`sluice.ev.system.*`). Parts that are not plain `[a-z0-9_]` (Unicode hashtags, odd
 * channels) are escaped as `x-<base64url of UTF-8>`; a verbatim token never contains `-`, so the
 * two forms cannot collide. The mapping is total and reversible: every channel string maps to a
 * valid subject and back, unknown channels included (they travel as `raw.<escaped>`), so a new
 * Mastodon channel is forwarded, never silently lost.
 */

export type SubjectKind = 'in' | 'ev';

/** Subject tokens stay far below nats-server's 4 KiB control-line limit. */
export const MAX_SUBJECT_BYTES = 2048;

const PLAIN_TOKEN = /^[a-z0-9_]+$/;
const DIGITS = /^[0-9]+$/;
const ESCAPED_TOKEN = /^x-[A-Za-z0-9_-]*$/;
const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export class ChannelMappingError extends Error {
  override readonly name = 'ChannelMappingError';
}

/** Escapes one channel part into a subject token. */
export function encodeToken(part: string): string {
  if (PLAIN_TOKEN.test(part)) return part;
  return 'x-' + Buffer.from(part, 'utf8').toString('base64url');
}

/** Reverses {@link encodeToken}. Throws on a token that neither form produces. */
export function decodeToken(token: string): string {
  if (PLAIN_TOKEN.test(token)) return token;
  if (ESCAPED_TOKEN.test(token)) {
    const bytes = Buffer.from(token.slice(2), 'base64url');
    const text = bytes.toString('utf8');
    // Reject non-canonical encodings so that decode(encode(x)) = x is the only way in.
    if (encodeToken(text) !== token) throw new ChannelMappingError(`non-canonical subject token ${token}`);
    return text;
  }
  throw new ChannelMappingError(`invalid subject token ${JSON.stringify(token)}`);
}

/**
 * The channel-specific tokens (without prefix and kind), e.g. `['public','local','media']`.
 * Known Mastodon channels get readable tokens; anything else becomes `['raw', <escaped>]`.
 */
export function channelTokens(channel: string): string[] {
  const parts = channel.split(':');
  if (parts[0] !== 'timeline' || parts.length < 2) return ['raw', encodeToken(channel)];
  const [, a, b, c, ...rest] = parts as [string, string, string?, string?, ...string[]];
  if (rest.length === 0) {
    if (a === 'public') {
      if (b === undefined) return ['public'];
      if (c === undefined && (b === 'local' || b === 'remote' || b === 'media')) return ['public', b];
      if ((b === 'local' || b === 'remote') && c === 'media') return ['public', b, 'media'];
    } else if (a === 'hashtag' && b !== undefined && b !== '') {
      if (c === undefined) return ['hashtag', encodeToken(b)];
      if (c === 'local') return ['hashtag', encodeToken(b), 'local'];
    } else if (
      (a === 'list' || a === 'direct' || a === 'access_token' || a === 'system') &&
      c === undefined
    ) {
      if (b !== undefined && DIGITS.test(b)) return [a, b];
    } else if (DIGITS.test(a)) {
      // `home` makes a user's two channels siblings: `user.<id>.*` covers both (sharedSubject).
      if (b === undefined) return ['user', a, 'home'];
      if (b === 'notifications' && c === undefined) return ['user', a, 'notifications'];
    }
  }
  return ['raw', encodeToken(channel)];
}

/**
 * Reverses {@link channelTokens}. Only the tokens `channelTokens` produces are accepted, so each
 * channel has exactly one subject (a known channel in `raw` form, or a hashtag token that hides a
 * colon, is refused).
 */
export function tokensToChannel(tokens: readonly string[]): string {
  const channel = channelFromTokens(tokens);
  const canonical = channelTokens(channel);
  if (canonical.length !== tokens.length || canonical.some((t, i) => t !== tokens[i])) {
    throw new ChannelMappingError(
      `non-canonical subject tokens ${tokens.join('.')} for ${JSON.stringify(channel)}`,
    );
  }
  return channel;
}

function channelFromTokens(tokens: readonly string[]): string {
  const [kind, a, b] = tokens;
  const n = tokens.length;
  switch (kind) {
    case 'public':
      if (n === 1) return 'timeline:public';
      if (n === 2 && (a === 'local' || a === 'remote' || a === 'media')) return `timeline:public:${a}`;
      if (n === 3 && (a === 'local' || a === 'remote') && b === 'media') return `timeline:public:${a}:media`;
      break;
    case 'hashtag':
      if (n === 2 && a) return `timeline:hashtag:${decodeToken(a)}`;
      if (n === 3 && a && b === 'local') return `timeline:hashtag:${decodeToken(a)}:local`;
      break;
    case 'list':
    case 'direct':
    case 'access_token':
    case 'system':
      if (n === 2 && a && DIGITS.test(a)) return `timeline:${kind}:${a}`;
      break;
    case 'user':
      if (n === 3 && a && DIGITS.test(a) && b === 'home') return `timeline:${a}`;
      if (n === 3 && a && DIGITS.test(a) && b === 'notifications') return `timeline:${a}:notifications`;
      break;
    case 'raw':
      if (n === 2 && a) return decodeToken(a);
      break;
  }
  throw new ChannelMappingError(`subject tokens do not name a channel: ${tokens.join('.')}`);
}

export function validatePrefix(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new ChannelMappingError(`invalid subject prefix ${JSON.stringify(prefix)}`);
  return prefix;
}

/**
 * Maps a channel to its subject, e.g. `sluice.ev.hashtag.x-Y2Fmw6k.local`.
 * Throws {@link ChannelMappingError} when the subject would exceed {@link MAX_SUBJECT_BYTES}.
 */
export function channelToSubject(prefix: string, kind: SubjectKind, channel: string): string {
  const subject = `${prefix}.${kind}.${channelTokens(channel).join('.')}`;
  if (Buffer.byteLength(subject) > MAX_SUBJECT_BYTES) {
    throw new ChannelMappingError(`channel too long for a subject (${Buffer.byteLength(channel)} bytes)`);
  }
  return subject;
}

/** Reverses {@link channelToSubject} for a subject under `prefix`. */
export function subjectToChannel(prefix: string, subject: string): { kind: SubjectKind; channel: string } {
  if (!subject.startsWith(prefix + '.'))
    throw new ChannelMappingError(`subject ${subject} is not under ${prefix}`);
  const tokens = subject.slice(prefix.length + 1).split('.');
  const kind = tokens.shift();
  if (kind !== 'in' && kind !== 'ev') throw new ChannelMappingError(`subject ${subject} has no in/ev kind`);
  return { kind, channel: tokensToChannel(tokens) };
}

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** The subject filter covering every channel of a kind, e.g. `sluice.in.>`. */
export function allSubjects(prefix: string, kind: SubjectKind): string {
  return `${prefix}.${kind}.>`;
}

/** Subject on which gateways announce interest to ingest (decision 9). */
export function interestSubject(prefix: string): string {
  return `${prefix}.ctl.interest`;
}

const USER_CHANNEL = /^timeline:([0-9]+)(?::notifications)?$/;

/**
 * The wildcard subject a gateway holds a channel through, shared with other channels, or null
 * when the channel gets a subscription of its own. Each NATS subscription costs a client ~1 KB,
 * and these channels come in numbers per connection:
 * - system channels (two per connection): `<prefix>.ev.access_token.*` and `<prefix>.ev.system.*`,
 *   every account's `kill` / `filters_changed` (rare, no payload);
 * - a user's home and notifications timelines (both for a `user` stream): `<prefix>.ev.user.<id>.*`.
 */
export function sharedSubject(prefix: string, channel: string): string | null {
  if (channel.startsWith('timeline:access_token:')) {
    return isSystemChannel(channel) ? `${prefix}.ev.access_token.*` : null;
  }
  if (channel.startsWith('timeline:system:'))
    return isSystemChannel(channel) ? `${prefix}.ev.system.*` : null;
  const user = USER_CHANNEL.exec(channel);
  return user ? `${prefix}.ev.user.${user[1]}.*` : null;
}

const SYSTEM_CHANNEL = /^timeline:(?:access_token|system):[0-9]+$/;

/**
 * True for the per-connection control channels that carry `kill` / `filters_changed`
 * (`timeline:access_token:<id>`, `timeline:system:<id>`; their subjects are what
 * {@link sharedSubject} covers).
 */
export function isSystemChannel(channel: string): boolean {
  return SYSTEM_CHANNEL.test(channel);
}
