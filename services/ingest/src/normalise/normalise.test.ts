import type { Envelope } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import { normalise } from './normalise.js';

const AT = 1_700_000_000_000;
const text = (data: Uint8Array) => Buffer.from(data).toString('utf8');

/** Normalises a message that must be valid and returns its envelope. */
function ok(raw: string | Uint8Array): Envelope {
  const n = normalise(typeof raw === 'string' ? Buffer.from(raw) : raw, AT);
  if (!n.ok) throw new Error(`expected a valid message, got ${n.reason}`);
  return n.envelope;
}

function reason(raw: string | Uint8Array): string | undefined {
  const n = normalise(typeof raw === 'string' ? Buffer.from(raw) : raw, AT);
  return n.ok ? undefined : n.reason;
}

/** A status as Rails renders it, with the fields filtering looks at. */
function status(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '109348677773283527',
    content: '<p>hi</p>',
    language: 'en',
    account: { id: '42', username: 'alice', acct: 'alice' },
    mentions: [],
    media_attachments: [],
    ...overrides,
  };
}

describe('normalise - payload bytes as clients receive them', () => {
  it('re-serialises object payloads like JSON.stringify: HTML-safe escapes become raw, key order kept', () => {
    const raw =
      '{"event":"notification","payload":{"z":"\\u003cb\\u003e \\u0026 \\u2028","a":1,"m":{"y":2,"b":[1,"\\/"]}}}';
    const env = ok(raw);
    expect(text(env.data)).toBe('{"z":"<b> & \u2028","a":1,"m":{"y":2,"b":[1,"/"]}}');
    expect(text(env.data)).toBe(JSON.stringify(JSON.parse(raw).payload));
    expect(env.event).toBe('notification');
    expect(env.receivedAt).toBe(AT);
  });

  it('drops insignificant whitespace from object payloads', () => {
    expect(text(ok('{ "event" : "conversation", "payload" : { "id" : "1" , "unread" : true } }').data)).toBe(
      '{"id":"1","unread":true}',
    );
  });

  it('keeps string payloads raw (not JSON-quoted)', () => {
    expect(text(ok('{"event":"delete","payload":"109348677773283527"}').data)).toBe('109348677773283527');
    expect(text(ok('{"event":"notifications_merged","payload":"1"}').data)).toBe('1');
    // A string that happens to hold JSON stays exactly as sent.
    expect(text(ok('{"event":"update","payload":"{\\"id\\": \\"1\\"}"}').data)).toBe('{"id": "1"}');
  });

  it('keeps non-ASCII string payloads as UTF-8', () => {
    expect(text(ok('{"event":"announcement.delete","payload":"caf\\u00e9 ☕"}').data)).toBe('café ☕');
  });

  it('array payloads are re-serialised and carry no status facts', () => {
    const env = ok('{"event":"update","payload":[1, "\\u003c"]}');
    expect(text(env.data)).toBe('[1,"<"]');
    expect(env.status).toBeNull();
  });

  it.each([
    ['missing', '{"event":"filters_changed"}'],
    ['null', '{"event":"kill","payload":null}'],
    ['empty string', '{"event":"update","payload":""}'],
    ['false', '{"event":"update","payload":false}'],
    ['zero', '{"event":"update","payload":0}'],
  ])('a %s payload gives empty data but keeps the event (system channels need it)', (_what, raw) => {
    const env = ok(raw);
    expect(env.data.byteLength).toBe(0);
    expect(env.status).toBeNull();
    expect(env.event).toBe(JSON.parse(raw).event);
  });

  it('other truthy scalars become their text', () => {
    expect(text(ok('{"event":"x","payload":12}').data)).toBe('12');
    expect(text(ok('{"event":"x","payload":true}').data)).toBe('true');
  });

  it('ignores queued_at and other top-level keys', () => {
    const env = ok('{"event":"delete","payload":"1","queued_at":1700000000000}');
    expect(text(env.data)).toBe('1');
  });

  it('accepts a Uint8Array that is a view into a larger buffer', () => {
    const backing = Buffer.from('xxxx{"event":"delete","payload":"7"}yyyy');
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, backing.byteLength - 8);
    expect(text(ok(view).data)).toBe('7');
  });
});

describe('normalise - invalid input is named, never thrown', () => {
  it('empty input', () => {
    expect(reason('')).toBe('empty');
  });

  it('invalid UTF-8', () => {
    expect(reason(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).toBe('invalid_utf8');
    // A truncated multi-byte sequence inside an otherwise valid message.
    const truncated = Buffer.concat([
      Buffer.from('{"event":"delete","payload":"'),
      Buffer.from([0xe2, 0x98]),
      Buffer.from('"}'),
    ]);
    expect(reason(truncated)).toBe('invalid_utf8');
  });

  it.each([['not json'], ['{"event":"update"'], ['{event: "update"}'], ['undefined']])(
    'not JSON: %s',
    (raw) => {
      const n = normalise(Buffer.from(raw), AT);
      expect(n.ok).toBe(false);
      if (!n.ok) {
        expect(n.reason).toBe('not_json');
        expect(n.detail).toEqual(expect.any(String));
      }
    },
  );

  it.each([
    ['a top-level array', '[{"event":"update","payload":{}}]'],
    ['a string', '"update"'],
    ['a number', '42'],
    ['null', 'null'],
    ['no event', '{"payload":{"id":"1"}}'],
    ['an empty event', '{"event":"","payload":"1"}'],
    ['a numeric event', '{"event":1,"payload":"1"}'],
    ['a null event', '{"event":null,"payload":"1"}'],
    ['an object event', '{"event":{"name":"update"},"payload":"1"}'],
    ['an array event', '{"event":["update"],"payload":"1"}'],
  ])('missing_event for %s', (_what, raw) => {
    expect(reason(raw)).toBe('missing_event');
  });
});

describe('normalise - status facts', () => {
  it.each(['update', 'status.update'])('extracts the facts filtering needs from %s', (event) => {
    const env = ok(
      JSON.stringify({
        event,
        payload: status({
          account: { id: '7', username: 'bob', acct: 'bob@remote.example' },
          mentions: [
            { id: '1', acct: 'a' },
            { id: '2', acct: 'b@x' },
          ],
          language: 'de',
          media_attachments: [{ id: '9', type: 'image' }],
        }),
      }),
    );
    expect(env.status).toEqual({
      accountId: '7',
      domain: 'remote.example',
      mentions: ['1', '2'],
      language: 'de',
      local: false,
      media: true,
      filtered: false,
      localOnly: false,
    });
  });

  it('a local author: no domain, local when username equals acct', () => {
    const facts = ok(JSON.stringify({ event: 'update', payload: status() })).status;
    expect(facts).toMatchObject({ accountId: '42', domain: null, local: true, media: false, mentions: [] });
  });

  it('local compares username and acct exactly (case matters, as in Mastodon)', () => {
    const facts = ok(
      JSON.stringify({
        event: 'update',
        payload: status({ account: { id: '1', username: 'Alice', acct: 'alice' } }),
      }),
    ).status;
    expect(facts?.local).toBe(false);
  });

  it('language null or missing gives null', () => {
    expect(
      ok(JSON.stringify({ event: 'update', payload: status({ language: null }) })).status?.language,
    ).toBeNull();
    const { language: _l, ...noLanguage } = status();
    expect(ok(JSON.stringify({ event: 'update', payload: noLanguage })).status?.language).toBeNull();
  });

  it('filtered is an own-property test: present even when empty, absent otherwise', () => {
    expect(ok(JSON.stringify({ event: 'update', payload: status({ filtered: [] }) })).status?.filtered).toBe(
      true,
    );
    expect(
      ok(JSON.stringify({ event: 'update', payload: status({ filtered: [{ filter: {} }] }) })).status
        ?.filtered,
    ).toBe(true);
    expect(ok(JSON.stringify({ event: 'update', payload: status() })).status?.filtered).toBe(false);
    // A nested `filtered` is not the status's own.
    expect(
      ok(JSON.stringify({ event: 'update', payload: status({ reblog: { filtered: [] } }) })).status?.filtered,
    ).toBe(false);
  });

  it('local_only (glitch-soc) is read as a boolean', () => {
    expect(
      ok(JSON.stringify({ event: 'update', payload: status({ local_only: true }) })).status?.localOnly,
    ).toBe(true);
    expect(
      ok(JSON.stringify({ event: 'update', payload: status({ local_only: false }) })).status?.localOnly,
    ).toBe(false);
    expect(ok(JSON.stringify({ event: 'update', payload: status() })).status?.localOnly).toBe(false);
  });

  it('skips mentions without a string id and tolerates non-array mentions/media', () => {
    const facts = ok(
      JSON.stringify({
        event: 'update',
        payload: status({
          mentions: [{ id: '1' }, { id: 2 }, null, 'x', { id: '' }, { acct: 'y' }, { id: '3' }],
          media_attachments: 'nope',
        }),
      }),
    ).status;
    expect(facts?.mentions).toEqual(['1', '3']);
    expect(facts?.media).toBe(false);
    const noMentions = ok(JSON.stringify({ event: 'update', payload: status({ mentions: 'x' }) })).status;
    expect(noMentions?.mentions).toEqual([]);
  });

  it('domain follows acct.split("@")[1]', () => {
    const facts = ok(
      JSON.stringify({
        event: 'update',
        payload: status({ account: { id: '1', username: 'u', acct: 'u@a.example@b' } }),
      }),
    ).status;
    expect(facts?.domain).toBe('a.example');
  });

  it('tolerates a status without a usable account', () => {
    const facts = ok(JSON.stringify({ event: 'update', payload: status({ account: 'nobody' }) })).status;
    expect(facts).toMatchObject({ accountId: null, domain: null });
    const numericId = ok(
      JSON.stringify({ event: 'update', payload: status({ account: { id: 5, username: 'u', acct: 'u' } }) }),
    ).status;
    expect(numericId?.accountId).toBeNull();
  });

  it('facts do not change the bytes: the payload is still the re-serialised status', () => {
    const payload = status({ content: '\u003cp\u003ehi\u003c/p\u003e', filtered: [] });
    const env = ok(JSON.stringify({ event: 'update', payload }));
    expect(text(env.data)).toBe(JSON.stringify(payload));
  });

  it.each([
    ['notification', { id: '1', type: 'mention', status: status() }],
    ['conversation', { id: '1', last_status: status() }],
    ['announcement', { id: '1', content: '<p>x</p>' }],
    ['delete', '109348677773283527'],
  ])('no facts for %s', (event, payload) => {
    expect(ok(JSON.stringify({ event, payload })).status).toBeNull();
  });

  it('no facts for a status event whose payload is a string', () => {
    expect(ok(JSON.stringify({ event: 'update', payload: JSON.stringify(status()) })).status).toBeNull();
  });
});
