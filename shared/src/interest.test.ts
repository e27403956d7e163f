import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chunkInterest,
  decodeInterest,
  encodeInterest,
  INTEREST_CHUNK_BYTES,
  InterestDecodeError,
  type InterestMessage,
} from './interest.js';

const json = (value: unknown) => new Uint8Array(Buffer.from(JSON.stringify(value)));
const channelArb = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), // control characters, quotes, lone surrogates
  fc.constantFrom(
    'timeline:public',
    'timeline:1:notifications',
    'timeline:hashtag:café',
    '"',
    '\\',
    '\u0000',
  ),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map((id) => `timeline:${id}`),
);
const messageArb: fc.Arbitrary<InterestMessage> = fc.record({
  v: fc.constant(1 as const),
  op: fc.constantFrom('add' as const, 'snapshot' as const),
  gateway: fc.string({ unit: 'grapheme', maxLength: 40 }),
  channels: fc.array(channelArb, { maxLength: 20 }),
});

describe('interest - encode/decode', () => {
  it('round-trips a snapshot', () => {
    const msg: InterestMessage = {
      v: 1,
      op: 'snapshot',
      gateway: 'gw-7f9c',
      channels: ['timeline:1', 'timeline:1:notifications', 'timeline:hashtag:日本'],
    };
    expect(decodeInterest(encodeInterest(msg))).toEqual(msg);
  });

  it('property: every message round-trips', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        expect(decodeInterest(encodeInterest(msg))).toEqual(msg);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes from a view into a larger buffer', () => {
    const inner = encodeInterest({ v: 1, op: 'add', gateway: 'g', channels: ['timeline:2'] });
    const big = new Uint8Array(inner.byteLength + 10);
    big.set(inner, 5);
    expect(decodeInterest(big.subarray(5, 5 + inner.byteLength))).toEqual({
      v: 1,
      op: 'add',
      gateway: 'g',
      channels: ['timeline:2'],
    });
  });

  it('rejects what is not JSON, with the cause', () => {
    for (const raw of ['', '{', 'add timeline:1', '\u00ff']) {
      let err: unknown;
      try {
        decodeInterest(new Uint8Array(Buffer.from(raw)));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InterestDecodeError);
      expect((err as Error).message).toBe('interest message is not JSON');
      expect((err as Error).cause).toBeInstanceOf(SyntaxError);
    }
  });

  const good = { v: 1, op: 'add', gateway: 'g', channels: ['timeline:1'] };
  it.each([
    ['null', null],
    ['a number', 1],
    ['a string', 'timeline:1'],
    ['an array', [good]],
    ['no version', { ...good, v: undefined }],
    ['version 2', { ...good, v: 2 }],
    ['version "1"', { ...good, v: '1' }],
    ['op remove', { ...good, op: 'remove' }],
    ['no op', { ...good, op: undefined }],
    ['gateway not a string', { ...good, gateway: 7 }],
    ['no gateway', { ...good, gateway: undefined }],
    ['channels not an array', { ...good, channels: 'timeline:1' }],
    ['no channels', { ...good, channels: undefined }],
    ['a non-string channel', { ...good, channels: ['timeline:1', 2] }],
    ['an empty channel', { ...good, channels: [''] }],
    ['a null channel', { ...good, channels: [null] }],
  ])('rejects %s', (_name, value) => {
    expect(() => decodeInterest(json(value))).toThrow(InterestDecodeError);
    expect(() => decodeInterest(json(value))).toThrow('interest message has the wrong shape');
  });

  it('accepts an empty channel list', () => {
    expect(decodeInterest(json({ ...good, channels: [] })).channels).toEqual([]);
  });
});

describe('interest - chunkInterest', () => {
  it('no channels, no messages', () => {
    expect(chunkInterest('snapshot', 'g', [])).toEqual([]);
  });

  it('a small set fits one message', () => {
    const channels = ['timeline:1', 'timeline:2'];
    expect(chunkInterest('add', 'g', new Set(channels))).toEqual([
      { v: 1, op: 'add', gateway: 'g', channels },
    ]);
  });

  it('the default limit is 256 KiB and is respected for 100k channels', () => {
    expect(INTEREST_CHUNK_BYTES).toBe(256 * 1024);
    const channels = Array.from(
      { length: 100_000 },
      (_, i) => `timeline:${10n ** 17n + BigInt(i)}:notifications`,
    );
    const chunks = chunkInterest('snapshot', 'gateway-5d8f7c9b6-x2k4p', channels);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(encodeInterest(c).byteLength).toBeLessThanOrEqual(INTEREST_CHUNK_BYTES);
    expect(chunks.flatMap((c) => c.channels)).toEqual(channels);
  });

  it('counts JSON escaping and the gateway name', () => {
    // Each channel is 100 control characters: 100 bytes raw, 600 bytes as JSON.
    const channels = Array.from({ length: 50 }, (_, i) => String.fromCharCode(i % 32).repeat(100));
    for (const c of chunkInterest('snapshot', 'g'.repeat(500), channels, 4096)) {
      expect(encodeInterest(c).byteLength).toBeLessThanOrEqual(4096);
    }
  });

  it('a channel larger than the limit travels alone', () => {
    const huge = 'timeline:hashtag:' + 'a'.repeat(5000);
    const chunks = chunkInterest('add', 'g', ['timeline:1', huge, 'timeline:2'], 1024);
    expect(chunks.map((c) => c.channels)).toEqual([['timeline:1'], [huge], ['timeline:2']]);
  });

  it('property: every chunk fits, every channel appears exactly once, in order', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('add' as const, 'snapshot' as const),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.array(channelArb, { maxLength: 300 }),
        fc.integer({ min: 300, max: 4000 }),
        (op, gateway, channels, maxBytes) => {
          const chunks = chunkInterest(op, gateway, channels, maxBytes);
          expect(chunks.flatMap((c) => c.channels)).toEqual(channels);
          for (const c of chunks) {
            expect(c).toMatchObject({ v: 1, op, gateway });
            expect(c.channels.length).toBeGreaterThan(0);
            const size = encodeInterest(c).byteLength;
            if (c.channels.length > 1) expect(size).toBeLessThanOrEqual(maxBytes);
            expect(decodeInterest(encodeInterest(c))).toEqual(c);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
