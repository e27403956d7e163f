import { Match, type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
import { type Envelope, writeHeaders } from '@sluice/shared';
import { describe, expect, it } from 'vitest';
import { WireHeaders } from './wire-headers.js';

/** nats.js's own implementation, with the method it serialises publishes by. */
const reference = () => natsHeaders() as MsgHdrs & { encode(): Uint8Array };
const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

const STATUS_ENVELOPE: Envelope = {
  event: 'update',
  data: new Uint8Array(0),
  receivedAt: 1_764_000_000_123,
  status: {
    accountId: '7',
    domain: 'remote.example',
    mentions: ['1', 'a,b', 'é'],
    language: 'fr',
    local: false,
    media: true,
    filtered: true,
    localOnly: true,
  },
};

describe('WireHeaders', () => {
  it('encodes exactly the bytes nats.js encodes for the headers ingest writes', () => {
    for (const env of [STATUS_ENVELOPE, { ...STATUS_ENVELOPE, event: 'kill', status: null }]) {
      const ours = new WireHeaders();
      const theirs = reference();
      writeHeaders(ours, env, 'abc.1');
      writeHeaders(theirs, env, 'abc.1');
      expect(text(ours.encode())).toBe(text(theirs.encode()));
      expect(Buffer.from(ours.encode()).equals(Buffer.from(theirs.encode()))).toBe(true);
      for (const k of theirs.keys()) expect(ours.get(k)).toBe(theirs.get(k));
      expect(ours.keys()).toEqual(theirs.keys());
    }
  });

  it('behaves like nats.js for set, append, delete, lookups and iteration', () => {
    const ours = new WireHeaders();
    const theirs = reference();
    for (const h of [ours, theirs]) {
      h.set('A-One', '1');
      h.append('A-One', '2');
      h.set('b-two', '  spaced  ');
      h.append('A-One', '3');
      h.set('Gone', 'x');
      h.delete('Gone');
      h.set('b-two', 'replaced');
      h.append('traceparent', '00-abc-def-01');
    }
    expect(text(ours.encode())).toBe(text(theirs.encode()));
    expect(ours.get('A-One')).toBe('1');
    expect(ours.last('A-One')).toBe('3');
    expect(ours.values('A-One')).toEqual(theirs.values('A-One'));
    expect(ours.has('Gone')).toBe(false);
    expect(ours.get('missing')).toBe('');
    expect(ours.get('a-one', Match.IgnoreCase)).toBe(theirs.get('a-one', Match.IgnoreCase));
    expect(ours.has('B-Two', Match.CanonicalMIME)).toBe(theirs.has('B-Two', Match.CanonicalMIME));
    expect([...ours]).toEqual([...theirs]);
    expect(ours.hasError).toBe(false);
    expect(ours.code).toBe(0);
  });

  it('rejects what nats.js rejects', () => {
    const ours = new WireHeaders();
    expect(() => ours.set('Bad:Name', 'x')).toThrow(/not a valid character/);
    expect(() => ours.set('Bad Name', 'x')).toThrow(/not a valid character/);
    expect(() => ours.set('Ok', 'line\r\nInjected: 1')).toThrow(/\\r or \\n/);
    expect(() => reference().set('Ok', 'line\nInjected: 1')).toThrow(/\\r or \\n/);
    expect(text(ours.encode())).toBe('');
  });

  it('re-encodes after a change and reuses the block otherwise', () => {
    const h = new WireHeaders();
    h.set('Nats-Msg-Id', 'x');
    const first = h.encode();
    expect(h.encode()).toBe(first);
    h.set('Sluice-Event', 'update');
    expect(text(h.encode())).toBe('NATS/1.0\r\nNats-Msg-Id: x\r\nSluice-Event: update\r\n\r\n');
  });
});
