import { describe, expect, it } from 'vitest';
import { EventFrames, labelJson, sseFrame, wsErrorFrame, wsFrame } from './frames.js';

const data = Buffer.from('{"id":"1","content":"<p>caf\u00e9 & \\"q\\"</p>"}');

describe('encode - SSE frames', () => {
  it('writes id, event and data lines and a blank line', () => {
    expect(sseFrame('update', data, 42).toString()).toBe(`id: 42\nevent: update\ndata: ${data}\n\n`);
  });

  it('omits the id line when there is no sequence', () => {
    expect(sseFrame('delete', Buffer.from('1131'), null).toString()).toBe('event: delete\ndata: 1131\n\n');
  });
});

describe('encode - WebSocket frames', () => {
  it('keeps Mastodon key order and makes the payload a JSON string', () => {
    const frame = wsFrame(
      labelJson(['hashtag', '#Foo']),
      JSON.stringify('update'),
      JSON.stringify(data.toString()),
    );
    const text = frame.toString();
    expect(text.startsWith('{"stream":["hashtag","#Foo"],"event":"update","payload":"')).toBe(true);
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed)).toEqual(['stream', 'event', 'payload']);
    expect(typeof parsed.payload).toBe('string');
    expect(JSON.parse(parsed.payload)).toEqual(JSON.parse(data.toString()));
    // Same bytes as Mastodon's JSON.stringify({ stream, event, payload }).
    expect(text).toBe(
      JSON.stringify({ stream: ['hashtag', '#Foo'], event: 'update', payload: data.toString() }),
    );
  });

  it('keeps a numeric list label a number', () => {
    expect(labelJson(['list', 42])).toBe('["list",42]');
  });

  it('builds error frames with and without status', () => {
    expect(wsErrorFrame('Unknown stream type', 400).toString()).toBe(
      '{"error":"Unknown stream type","status":400}',
    );
    expect(wsErrorFrame('Error unsubscribing from channel').toString()).toBe(
      '{"error":"Error unsubscribing from channel"}',
    );
  });
});

describe('encode - once per event per label', () => {
  it('reuses one buffer per label and one SSE buffer', () => {
    const f = new EventFrames('update', data, 7);
    const a1 = f.ws('["public:local"]');
    const b1 = f.ws('["public"]');
    const a2 = f.ws('["public:local"]');
    const b2 = f.ws('["public"]');
    const s1 = f.sse();
    const s2 = f.sse();
    expect(a1).toBe(a2);
    expect(b1).toBe(b2);
    expect(s1).toBe(s2);
    expect(f.built).toBe(3);
    for (let i = 0; i < 1000; i++) f.ws(i % 2 ? '["public"]' : '["public:local"]');
    expect(f.built).toBe(3);
  });

  it('handles payload views into larger buffers', () => {
    const big = Buffer.from('xxx{"a":1}yyy');
    const view = big.subarray(3, 10);
    const f = new EventFrames('update', view, 1);
    expect(JSON.parse(f.ws('["user"]').toString()).payload).toBe('{"a":1}');
    expect(f.sse().toString()).toBe('id: 1\nevent: update\ndata: {"a":1}\n\n');
  });
});
