import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allSubjects,
  ChannelMappingError,
  channelTokens,
  channelToSubject,
  decodeToken,
  encodeToken,
  interestSubject,
  isSystemChannel,
  MAX_SUBJECT_BYTES,
  type SubjectKind,
  sharedSubject,
  subjectMatches,
  subjectToChannel,
  tokensToChannel,
  validatePrefix,
} from './channels.js';

const VALID_TOKEN = /^[A-Za-z0-9_-]+$/;
const KINDS: readonly SubjectKind[] = ['in', 'ev'];

/** (a) of the contract: a subject nats-server accepts, under the prefix and kind. */
function expectValidSubject(subject: string, prefix: string, kind: SubjectKind): void {
  expect(subject.startsWith(`${prefix}.${kind}.`)).toBe(true);
  expect(Buffer.byteLength(subject)).toBeLessThanOrEqual(MAX_SUBJECT_BYTES);
  expect(subject).not.toMatch(/\.\./);
  expect(subject).not.toMatch(/^\.|\.$/);
  for (const token of subject.split('.')) {
    expect(token.length).toBeGreaterThan(0);
    expect(token).not.toMatch(/[\s\0*>]/);
    expect(token).toMatch(VALID_TOKEN);
  }
}

/**
 * Maps and maps back. The only allowed failure is ChannelMappingError for a subject that would be
 * longer than MAX_SUBJECT_BYTES; the length is recomputed here from the escaping rule, not
 * taken from the implementation.
 */
function roundTrip(prefix: string, kind: SubjectKind, channel: string): string | null {
  let subject: string;
  try {
    subject = channelToSubject(prefix, kind, channel);
  } catch (err) {
    expect(err).toBeInstanceOf(ChannelMappingError);
    // Independent bound: the longest form is `<prefix>.<kind>.raw.x-<base64url of the channel>`;
    // when even that fits, the mapping must not fail.
    const longest =
      Buffer.byteLength(`${prefix}.${kind}.raw.x-`) + Math.ceil((Buffer.byteLength(channel) * 4) / 3);
    expect(longest).toBeGreaterThan(MAX_SUBJECT_BYTES);
    expect(Buffer.byteLength(`${prefix}.${kind}.${channelTokens(channel).join('.')}`)).toBeGreaterThan(
      MAX_SUBJECT_BYTES,
    );
    return null;
  }
  expectValidSubject(subject, prefix, kind);
  expect(subjectToChannel(prefix, subject)).toEqual({ kind, channel });
  return subject;
}

const prefixArb = fc.constantFrom('sluice', 'mastodon-social', 'a.b', 'Prod_1.sluice-x');
const kindArb = fc.constantFrom<SubjectKind>('in', 'ev');
const graphemes = (maxLength?: number) =>
  fc.string({ unit: 'grapheme', ...(maxLength === undefined ? {} : { maxLength }) });
/** Strings full of the characters that break naive subject building. */
const nastyArb = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '.',
      '*',
      '>',
      ' ',
      '\t',
      '\n',
      '\0',
      ':',
      '-',
      '_',
      'x',
      'x-',
      '%',
      '🎉',
      '👩‍👩‍👧',
      'é',
      'e\u0301',
    ),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  ),
});
const USER = /^timeline:[0-9]+(:notifications)?$/;
const idArb = fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String);

describe('channels - property: every channel maps to a valid subject and back', () => {
  it('hashtags (full Unicode graphemes, including . * > space : - emoji and empty)', () => {
    fc.assert(
      fc.property(
        prefixArb,
        kindArb,
        fc.oneof(graphemes(), nastyArb),
        fc.boolean(),
        (prefix, kind, tag, local) => {
          roundTrip(prefix, kind, `timeline:hashtag:${tag}${local ? ':local' : ''}`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('hashtag tags without colons get one token, so hashtag wildcards work', () => {
    fc.assert(
      fc.property(
        graphemes().filter((t) => t !== '' && !t.includes(':')),
        fc.boolean(),
        (tag, local) => {
          const subject = channelToSubject('sluice', 'ev', `timeline:hashtag:${tag}${local ? ':local' : ''}`);
          expect(subjectMatches(local ? 'sluice.ev.hashtag.*.local' : 'sluice.ev.hashtag.*', subject)).toBe(
            true,
          );
          expect(subjectMatches(local ? 'sluice.ev.hashtag.*' : 'sluice.ev.hashtag.*.local', subject)).toBe(
            false,
          );
          expect(subject.split('.')[3]).toBe(encodeToken(tag));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('numeric ids up to 2^64 stay readable in every id channel', () => {
    fc.assert(
      fc.property(prefixArb, kindArb, idArb, (prefix, kind, id) => {
        const cases: [string, string][] = [
          [`timeline:${id}`, `user.${id}.home`],
          [`timeline:${id}:notifications`, `user.${id}.notifications`],
          [`timeline:list:${id}`, `list.${id}`],
          [`timeline:direct:${id}`, `direct.${id}`],
          [`timeline:access_token:${id}`, `access_token.${id}`],
          [`timeline:system:${id}`, `system.${id}`],
        ];
        for (const [channel, tail] of cases) {
          expect(roundTrip(prefix, kind, channel)).toBe(`${prefix}.${kind}.${tail}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary strings (any Unicode, no timeline: prefix, extra colons)', () => {
    const odd = fc.oneof(
      graphemes(),
      nastyArb,
      fc.string({ unit: 'binary-ascii' }),
      fc
        .array(fc.oneof(graphemes(8), nastyArb, idArb), { maxLength: 6 })
        .map((p) => `timeline:${p.join(':')}`),
      fc
        .array(
          fc.oneof(fc.constantFrom('timeline', 'public', 'local', 'media', 'hashtag', 'list', ''), idArb),
          {
            maxLength: 6,
          },
        )
        .map((p) => p.join(':')),
    );
    fc.assert(
      fc.property(prefixArb, kindArb, odd, (prefix, kind, channel) => {
        roundTrip(prefix, kind, channel);
      }),
      { numRuns: 3000 },
    );
  });

  it('long channels either fit or fail with ChannelMappingError, never anything else', () => {
    fc.assert(
      fc.property(
        kindArb,
        fc.oneof(graphemes(1200), fc.string({ unit: 'grapheme-ascii', minLength: 1000, maxLength: 2100 })),
        fc.boolean(),
        (kind, body, hashtag) => {
          roundTrip('sluice', kind, hashtag ? `timeline:hashtag:${body}` : body);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the length limit is exact: MAX_SUBJECT_BYTES fits, one byte more throws', () => {
    const head = 'sluice.ev.hashtag.';
    const fits = 'a'.repeat(MAX_SUBJECT_BYTES - head.length);
    expect(channelToSubject('sluice', 'ev', `timeline:hashtag:${fits}`)).toHaveLength(MAX_SUBJECT_BYTES);
    expect(() => channelToSubject('sluice', 'ev', `timeline:hashtag:${fits}a`)).toThrow(ChannelMappingError);
  });

  it('subjects are canonical: a subject that decodes names the one subject its channel maps to', () => {
    const tokenArb = fc.oneof(
      fc.constantFrom(
        'public',
        'local',
        'remote',
        'media',
        'hashtag',
        'user',
        'notifications',
        'raw',
        'list',
        'x-',
      ),
      idArb,
      graphemes(6).map(encodeToken),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/),
    );
    fc.assert(
      fc.property(kindArb, fc.array(tokenArb, { minLength: 1, maxLength: 4 }), (kind, tokens) => {
        const subject = `sluice.${kind}.${tokens.join('.')}`;
        let channel: string;
        try {
          channel = subjectToChannel('sluice', subject).channel;
        } catch (err) {
          expect(err).toBeInstanceOf(ChannelMappingError);
          return;
        }
        expect(channelToSubject('sluice', kind, channel)).toBe(subject);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('channels - every channel Mastodon uses has a readable subject', () => {
  const table: [string, string][] = [
    ['timeline:public', 'public'],
    ['timeline:public:media', 'public.media'],
    ['timeline:public:local', 'public.local'],
    ['timeline:public:local:media', 'public.local.media'],
    ['timeline:public:remote', 'public.remote'],
    ['timeline:public:remote:media', 'public.remote.media'],
    ['timeline:hashtag:mastodon', 'hashtag.mastodon'],
    ['timeline:hashtag:mastodon:local', 'hashtag.mastodon.local'],
    ['timeline:hashtag:caf_2024', 'hashtag.caf_2024'],
    ['timeline:hashtag:café', `hashtag.x-${Buffer.from('café').toString('base64url')}`],
    ['timeline:hashtag:café:local', 'hashtag.x-Y2Fmw6k.local'],
    ['timeline:hashtag:日本・語:local', `hashtag.x-${Buffer.from('日本・語').toString('base64url')}.local`],
    ['timeline:109348677773283527', 'user.109348677773283527.home'],
    ['timeline:123:notifications', 'user.123.notifications'],
    ['timeline:list:42', 'list.42'],
    ['timeline:direct:123', 'direct.123'],
    ['timeline:access_token:987', 'access_token.987'],
    ['timeline:system:123', 'system.123'],
  ];
  it.each(table)('%s → sluice.ev.%s (and .in.)', (channel, tail) => {
    expect(channelToSubject('sluice', 'ev', channel)).toBe(`sluice.ev.${tail}`);
    expect(channelToSubject('sluice', 'in', channel)).toBe(`sluice.in.${tail}`);
    expect(subjectToChannel('sluice', `sluice.ev.${tail}`)).toEqual({ kind: 'ev', channel });
    expect(subjectToChannel('sluice', `sluice.in.${tail}`)).toEqual({ kind: 'in', channel });
  });

  it('spells out the examples of the design', () => {
    expect(channelToSubject('sluice', 'ev', 'timeline:public:local:media')).toBe(
      'sluice.ev.public.local.media',
    );
    expect(channelToSubject('sluice', 'in', 'timeline:123:notifications')).toBe(
      'sluice.in.user.123.notifications',
    );
    expect(channelToSubject('sluice', 'ev', 'timeline:hashtag:café:local')).toBe(
      'sluice.ev.hashtag.x-Y2Fmw6k.local',
    );
  });

  it.each([
    'timeline:123:456', // encrypted_message device channel, removed in 4.3
    'timeline:list:abc',
    'timeline:public:media:media',
    'timeline:public:LOCAL',
    'timeline:hashtag:',
    'timeline:hashtag:a:b',
    'timeline:-99',
    'timeline:',
    'timeline',
    'subscribed:timeline:1',
    '',
  ])('unknown channel %j travels as raw.<escaped> and comes back', (channel) => {
    const subject = channelToSubject('sluice', 'ev', channel);
    expect(subject).toBe(`sluice.ev.raw.${encodeToken(channel)}`);
    expect(subjectToChannel('sluice', subject)).toEqual({ kind: 'ev', channel });
  });

  it('channelTokens/tokensToChannel are inverse on the table', () => {
    for (const [channel, tail] of table) {
      expect(channelTokens(channel)).toEqual(tail.split('.'));
      expect(tokensToChannel(tail.split('.'))).toBe(channel);
    }
  });
});

describe('channels - wildcards', () => {
  const s = (channel: string, kind: SubjectKind = 'ev') => channelToSubject('sluice', kind, channel);

  it('sluice.ev.system.* matches system subjects only', () => {
    expect(subjectMatches('sluice.ev.system.*', s('timeline:system:1'))).toBe(true);
    expect(subjectMatches('sluice.ev.system.*', s('timeline:system:18446744073709551616'))).toBe(true);
    expect(subjectMatches('sluice.ev.system.*', s('timeline:access_token:1'))).toBe(false);
    expect(subjectMatches('sluice.ev.system.*', s('timeline:system:1', 'in'))).toBe(false);
    expect(subjectMatches('sluice.ev.system.*', s('timeline:system:x'))).toBe(false);
  });

  it('sluice.ev.access_token.* matches token channels', () => {
    expect(subjectMatches('sluice.ev.access_token.*', s('timeline:access_token:5'))).toBe(true);
    expect(subjectMatches('sluice.ev.access_token.*', s('timeline:system:5'))).toBe(false);
  });

  it('allSubjects covers every subject of its kind and no other', () => {
    fc.assert(
      fc.property(kindArb, fc.oneof(graphemes(), nastyArb), (kind, channel) => {
        const subject = s(channel, kind);
        expect(subjectMatches(allSubjects('sluice', kind), subject)).toBe(true);
        expect(subjectMatches(allSubjects('sluice', kind === 'in' ? 'ev' : 'in'), subject)).toBe(false);
      }),
    );
    expect(allSubjects('sluice', 'in')).toBe('sluice.in.>');
  });

  it('public wildcards', () => {
    expect(subjectMatches('sluice.ev.public.>', s('timeline:public:local:media'))).toBe(true);
    expect(subjectMatches('sluice.ev.public.>', s('timeline:public'))).toBe(false);
    expect(subjectMatches('sluice.ev.public.*.media', s('timeline:public:remote:media'))).toBe(true);
    expect(subjectMatches('sluice.ev.user.*.notifications', s('timeline:7:notifications'))).toBe(true);
    expect(subjectMatches('sluice.ev.user.*', s('timeline:7:notifications'))).toBe(false);
    expect(subjectMatches('sluice.ev.user.*.home', s('timeline:7'))).toBe(true);
  });
});

describe('channels - tokens', () => {
  it('encodeToken keeps [a-z0-9_] verbatim and escapes everything else', () => {
    expect(encodeToken('abc_123')).toBe('abc_123');
    expect(encodeToken('Abc')).toBe(`x-${Buffer.from('Abc').toString('base64url')}`);
    expect(encodeToken('')).toBe('x-');
    expect(encodeToken('a-b')).toMatch(/^x-/);
    expect(decodeToken('x-')).toBe('');
  });

  it('decode(encode(x)) = x for any Unicode string', () => {
    fc.assert(
      fc.property(fc.oneof(graphemes(), nastyArb), (part) => {
        const token = encodeToken(part);
        expect(token).toMatch(VALID_TOKEN);
        expect(decodeToken(token)).toBe(part);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['x-Zm9v', 'escaped form of a plain token ("foo")'],
    ['x-Y2Fmw6l', 'non-zero padding bits'],
    ['x-Y2Fmw6k=', 'padding'],
    ['x-A', 'impossible length'],
    ['x-_w', 'invalid UTF-8 (0xff)'],
    ['x-wA', 'overlong / truncated UTF-8'],
    ['x-+/', 'standard base64 alphabet'],
    ['', 'empty'],
    ['Foo', 'upper case without escape'],
    ['a-b', 'dash without x- prefix'],
    ['*', 'wildcard'],
    ['>', 'full wildcard'],
    ['a b', 'space'],
    ['é', 'non-ASCII'],
  ])('decodeToken rejects %j (%s)', (token) => {
    expect(() => decodeToken(token)).toThrow(ChannelMappingError);
  });

  it('any token string either is rejected or is the one encoding of what it decodes to', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^(x-)?[A-Za-z0-9_-]{0,12}$/), (token) => {
        let part: string;
        try {
          part = decodeToken(token);
        } catch (err) {
          expect(err).toBeInstanceOf(ChannelMappingError);
          return;
        }
        expect(encodeToken(part)).toBe(token);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('channels - subjectToChannel rejects what no channel maps to', () => {
  it.each([
    'other.ev.public',
    'sluicex.ev.public',
    'sluice',
    'sluice.',
    'sluice.ev',
    'sluice.xx.public',
    'sluice.ctl.interest',
    'sluice.ev.public.media.local',
    'sluice.ev.public.local.media.x',
    'sluice.ev.user.abc',
    'sluice.ev.user.1',
    'sluice.ev.user.1.home.x',
    'sluice.ev.user.1.mentions',
    'sluice.ev.list.x-MQ',
    'sluice.ev.hashtag',
    'sluice.ev.hashtag.Foo',
    'sluice.ev.hashtag.foo.remote',
    'sluice.ev.raw',
    'sluice.ev.raw.a.b',
    'sluice.ev.raw.x-Zm9v', // non-canonical escape of "foo"
    `sluice.ev.raw.${encodeToken('timeline:public')}`, // a known channel in raw form
    `sluice.ev.hashtag.${encodeToken('a:local')}`, // is timeline:hashtag:a:local, whose subject differs
    'sluice.ev.system.*',
    'sluice.ev.>',
    'sluice.ev.unknown.1',
  ])('%s', (subject) => {
    expect(() => subjectToChannel('sluice', subject)).toThrow(ChannelMappingError);
  });

  it('works under a multi-token prefix', () => {
    const subject = channelToSubject('a.b', 'ev', 'timeline:public');
    expect(subject).toBe('a.b.ev.public');
    expect(subjectToChannel('a.b', subject)).toEqual({ kind: 'ev', channel: 'timeline:public' });
    expect(() => subjectToChannel('a', subject)).toThrow(ChannelMappingError);
  });
});

describe('channels - helpers', () => {
  it('validatePrefix accepts dotted [A-Za-z0-9_-] tokens only', () => {
    for (const p of ['sluice', 'a.b', 'Mastodon-Social_1']) expect(validatePrefix(p)).toBe(p);
    for (const p of ['', '.a', 'a.', 'a..b', 'a b', 'a.*', 'a.>', 'é']) {
      expect(() => validatePrefix(p)).toThrow(ChannelMappingError);
    }
  });

  it('interestSubject is outside both kinds', () => {
    expect(interestSubject('sluice')).toBe('sluice.ctl.interest');
    for (const kind of KINDS)
      expect(subjectMatches(allSubjects('sluice', kind), interestSubject('sluice'))).toBe(false);
  });

  it('sharedSubject covers exactly the channels that share it', () => {
    fc.assert(
      fc.property(prefixArb, idArb, idArb, nastyArb, (prefix, id, other, nasty) => {
        const ev = (channel: string) => channelToSubject(prefix, 'ev', channel);
        const shares = (channel: string, peer: string) => {
          const filter = sharedSubject(prefix, channel);
          return filter !== null && subjectMatches(filter, ev(peer));
        };
        const system = [`timeline:access_token:${id}`, `timeline:system:${id}`];
        const user = [`timeline:${id}`, `timeline:${id}:notifications`];
        const others = [
          `timeline:${other}`,
          `timeline:list:${id}`,
          `timeline:direct:${id}`,
          `timeline:hashtag:${nasty}`,
          'timeline:public',
          `timeline:access_token:${nasty}x`,
          `timeline:${id}:${nasty}x`,
          nasty,
        ];
        for (const channel of [...system, ...user]) expect(shares(channel, channel)).toBe(true);
        // Each of a user's channels covers both, and nothing of another account.
        expect(shares(user[0]!, user[1]!) && shares(user[1]!, user[0]!)).toBe(true);
        for (const o of others) {
          if (o === user[0] || o === user[1] || isSystemChannel(o)) continue;
          for (const channel of [...user, ...system]) expect(shares(channel, o)).toBe(false);
        }
        expect(shares(system[0]!, `timeline:access_token:${other}`)).toBe(true);
        expect(shares(system[0]!, system[1]!)).toBe(false);
        for (const o of others)
          if (!isSystemChannel(o) && !USER.test(o)) expect(sharedSubject(prefix, o)).toBeNull();
      }),
    );
  });

  it('isSystemChannel', () => {
    expect(isSystemChannel('timeline:access_token:1')).toBe(true);
    expect(isSystemChannel('timeline:system:1')).toBe(true);
    expect(isSystemChannel('timeline:1')).toBe(false);
    expect(isSystemChannel('timeline:public')).toBe(false);
  });
});
