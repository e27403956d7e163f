import { headers as natsHeaders } from '@nats-io/transport-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeHeaderValue,
  type Envelope,
  encodeHeaderValue,
  Header,
  type HeaderSink,
  type HeaderSource,
  messageId,
  readEnvelope,
  readSequence,
  type StatusFacts,
  writeHeaders,
} from './envelope.js';

/** Printable ASCII, no space, no CR/LF: what a NATS header value may hold without trimming. */
const PRINTABLE = /^[\x21-\x7e]*$/;

class MapHeaders implements HeaderSink, HeaderSource {
  readonly map = new Map<string, string>();
  set(name: string, value: string): void {
    this.map.set(name, value);
  }
  get(name: string): string {
    return this.map.get(name) ?? '';
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

const status = (over: Partial<StatusFacts> = {}): StatusFacts => ({
  accountId: '109348677773283527',
  domain: null,
  mentions: [],
  language: 'en',
  local: true,
  media: false,
  filtered: false,
  localOnly: false,
  ...over,
});

function roundTrip(env: Envelope, id = 'msg-id'): { read: Envelope; h: MapHeaders } {
  const h = new MapHeaders();
  writeHeaders(h, env, id);
  for (const [name, value] of h.map) expect(value, name).toMatch(PRINTABLE);
  return { read: readEnvelope(h, env.data), h };
}

/** Strings without lone surrogates, which a UTF-8 message can never decode to. */
const text = fc.string({ unit: 'grapheme' });
const nonEmpty = fc.string({ unit: 'grapheme', minLength: 1 });
const statusArb: fc.Arbitrary<StatusFacts> = fc.record({
  accountId: fc.option(nonEmpty, { nil: null }),
  domain: fc.option(nonEmpty, { nil: null }),
  mentions: fc.array(fc.oneof(fc.bigInt({ min: 1n, max: 2n ** 63n }).map(String), nonEmpty), {
    maxLength: 5,
  }),
  language: fc.option(text, { nil: null }),
  local: fc.boolean(),
  media: fc.boolean(),
  filtered: fc.boolean(),
  localOnly: fc.boolean(),
});
const envelopeArb: fc.Arbitrary<Envelope> = fc.record({
  event: text,
  data: fc.uint8Array({ maxLength: 64 }),
  status: fc.option(statusArb, { nil: null }),
  receivedAt: fc.integer({ min: 0, max: 8.64e15 }),
});

describe('envelope - headers round trip', () => {
  it('a plain local status', () => {
    const env: Envelope = {
      event: 'update',
      data: bytes('{"id":"1"}'),
      status: status(),
      receivedAt: 1_700_000_000_123,
    };
    const { read, h } = roundTrip(env, 'abc');
    expect(read).toEqual(env);
    expect(Object.fromEntries(h.map)).toEqual({
      'Nats-Msg-Id': 'abc',
      'Sluice-Event': 'update',
      'Sluice-Received': '1700000000123',
      'Sluice-Account': '109348677773283527',
      'Sluice-Lang': 'en',
      'Sluice-Local': '1',
    });
  });

  it('non-ASCII domain and event, mentions, every flag', () => {
    const env: Envelope = {
      event: 'statüs.ünïcode ✨',
      data: bytes('x'),
      status: status({
        domain: 'bücher.example',
        mentions: ['1', '22', '333'],
        local: false,
        media: true,
        filtered: true,
        localOnly: true,
      }),
      receivedAt: 5,
    };
    const { read, h } = roundTrip(env);
    expect(read).toEqual(env);
    expect(h.get(Header.Domain)).toBe('b%C3%BCcher.example');
    expect(h.get(Header.Mentions)).toBe('1,22,333');
    expect(h.get(Header.Local)).toBe('0');
    expect(h.get(Header.Media)).toBe('1');
    expect(h.get(Header.Filtered)).toBe('1');
    expect(h.get(Header.LocalOnly)).toBe('1');
  });

  it('absent language reads back as null, empty language as empty', () => {
    const none = roundTrip({
      event: 'update',
      data: bytes('{}'),
      status: status({ language: null }),
      receivedAt: 1,
    });
    expect(none.h.has(Header.Language)).toBe(false);
    expect(none.read.status?.language).toBeNull();
    const empty = roundTrip({
      event: 'update',
      data: bytes('{}'),
      status: status({ language: '' }),
      receivedAt: 1,
    });
    expect(empty.read.status?.language).toBe('');
  });

  it('no status: no status headers, status null', () => {
    const env: Envelope = { event: 'delete', data: bytes('109348677773283527'), status: null, receivedAt: 9 };
    const { read, h } = roundTrip(env);
    expect(read).toEqual(env);
    expect([...h.map.keys()].sort()).toEqual(['Nats-Msg-Id', 'Sluice-Event', 'Sluice-Received']);
  });

  it('absent headers: empty event, receivedAt 0, status null', () => {
    expect(readEnvelope(undefined, bytes('x'))).toEqual({
      event: '',
      data: bytes('x'),
      status: null,
      receivedAt: 0,
    });
  });

  it('values that look encoded, or contain % , space and CR/LF, survive', () => {
    const env: Envelope = {
      event: 'a%20b c\r\nd%',
      data: bytes(''),
      status: status({ domain: '%C3%BC', language: ' en ', mentions: ['a,b', '%2C', 'c'] }),
      receivedAt: 1,
    };
    expect(roundTrip(env).read).toEqual(env);
  });

  it('property: any envelope round-trips and every header value is printable ASCII', () => {
    fc.assert(
      fc.property(envelopeArb, fc.string({ unit: 'binary-ascii' }), (env, id) => {
        const safeId = encodeHeaderValue(id);
        expect(roundTrip(env, safeId).read).toEqual(env);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: lone surrogates (possible from JSON "\\ud800" escapes) never throw', () => {
    const wellFormed = (s: string) =>
      s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (event, domain) => {
        const env: Envelope = {
          event,
          data: bytes(''),
          status: status({ domain: domain || null }),
          receivedAt: 1,
        };
        const { read } = roundTrip(env);
        expect(read.event).toBe(wellFormed(event));
        expect(read.status?.domain).toBe(domain ? wellFormed(domain) : null);
      }),
      { numRuns: 1000 },
    );
    expect(encodeHeaderValue('\uD800')).toBe('%EF%BF%BD');
  });

  it('works with nats.js message headers', () => {
    const env: Envelope = {
      event: 'update',
      data: bytes('{}'),
      status: status({ domain: 'ḃ.example', mentions: ['7'] }),
      receivedAt: 42,
    };
    const h = natsHeaders();
    writeHeaders(h, env, messageId('timeline:public', env.data));
    expect(readEnvelope(h, env.data)).toEqual(env);
  });
});

describe('envelope - header value encoding', () => {
  it.each([
    ['update', 'update'],
    ['status.update', 'status.update'],
    ['en', 'en'],
    ['', ''],
    ['a b', 'a%20b'],
    ['100%', '100%25'],
    ['é', '%C3%A9'],
    ['a\r\nb', 'a%0D%0Ab'],
  ])('%j → %j', (value, encoded) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
    expect(decodeHeaderValue(encoded)).toBe(value);
  });

  it('decodeHeaderValue leaves invalid escapes alone', () => {
    expect(decodeHeaderValue('%E0%A4%A')).toBe('%E0%A4%A');
    expect(decodeHeaderValue('%')).toBe('%');
  });
});

describe('envelope - messageId', () => {
  it('is deterministic and header-safe', () => {
    const raw = bytes('{"event":"update","payload":{}}');
    const id = messageId('timeline:public', raw);
    expect(id).toBe(messageId('timeline:public', bytes('{"event":"update","payload":{}}')));
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(encodeHeaderValue(id)).toBe(id);
  });

  it('differs for a different channel or different bytes', () => {
    const raw = bytes('{"event":"delete","payload":"1"}');
    expect(messageId('timeline:public', raw)).not.toBe(messageId('timeline:public:local', raw));
    expect(messageId('timeline:public', raw)).not.toBe(
      messageId('timeline:public', bytes('{"event":"delete","payload":"2"}')),
    );
    expect(messageId('timeline:public', bytes(''))).not.toBe(messageId('timeline:public', bytes(' ')));
  });

  it('cannot be forged by moving bytes between channel and message', () => {
    expect(messageId('a\nb', bytes('c'))).not.toBe(messageId('a', bytes('b\nc')));
    expect(messageId('ab', bytes('c'))).not.toBe(messageId('a', bytes('bc')));
    expect(messageId('', bytes('ab'))).not.toBe(messageId('ab', bytes('')));
  });

  it('property: distinct (channel, bytes) pairs get distinct ids', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 8 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.string({ unit: 'grapheme', maxLength: 8 }),
        fc.uint8Array({ maxLength: 8 }),
        (c1, r1, c2, r2) => {
          const same = c1 === c2 && Buffer.from(r1).equals(Buffer.from(r2));
          expect(messageId(c1, r1) === messageId(c2, r2)).toBe(same);
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        // Any split of the same text between channel and message gives a different id.
        const joined = a + b;
        fc.pre(b.length > 0);
        expect(messageId(a, bytes(b))).not.toBe(messageId(joined, bytes('')));
      }),
    );
  });
});

describe('envelope - readSequence', () => {
  const seq = (value?: string) => {
    const h = new MapHeaders();
    if (value !== undefined) h.set(Header.Sequence, value);
    return readSequence(h);
  };
  it.each([
    ['1', 1],
    ['42', 42],
    ['9007199254740991', 9007199254740991],
  ])('%s → %d', (value, n) => {
    expect(seq(value)).toBe(n);
  });
  it.each(['0', '-1', '1.5', 'abc', '', '9007199254740992', '1e400'])('%j → null', (value) => {
    expect(seq(value)).toBeNull();
  });
  it('absent header or no headers → null', () => {
    expect(seq()).toBeNull();
    expect(readSequence(undefined)).toBeNull();
  });
});
