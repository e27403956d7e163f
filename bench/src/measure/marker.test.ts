import { describe, expect, it } from 'vitest';
import {
  markerPrefix,
  notificationMessage,
  prng,
  type StatusInput,
  UpdateTemplates,
  updateMessage,
} from '../publish/status.js';
import { MarkerScanner, StreamScanner } from './marker.js';

const author = { id: '1', username: 'bench_r_a1', domain: null, acct: 'bench_r_a1', displayName: 'A' };
const input = (seq: number): StatusInput => ({
  run: 'r1',
  kind: 's',
  seq,
  tsUs: 1_790_000_000_000_000 + seq,
  author,
  tags: ['bench', '猫'],
  media: seq % 2 === 0,
  mention: { id: '7', username: 'bench_r_u7' },
  rand: prng(seq),
});

describe('marker - scanning', () => {
  const scanner = new MarkerScanner(markerPrefix('r1'));

  it('finds the marker once in a Redis message, an SSE line and a WebSocket frame', () => {
    const msg = updateMessage(input(12));
    const payload = JSON.stringify(JSON.parse(msg).payload);
    const forms = [
      msg,
      `event: update\ndata: ${payload}\n\n`,
      JSON.stringify({ stream: ['public'], event: 'update', payload }),
    ];
    for (const f of forms) {
      const seen: [number, number, number][] = [];
      scanner.scan(Buffer.from(f), (k, s, t) => seen.push([k, s, t]));
      expect(seen).toEqual([['s'.charCodeAt(0), 12, 1_790_000_000_000_012]]);
    }
  });

  it('finds the marker of a notification (in its status) once', () => {
    const seen: number[] = [];
    scanner.scan(Buffer.from(notificationMessage(input(5))), (_k, s) => seen.push(s));
    expect(seen).toEqual([5]);
  });

  it('ignores markers of another run', () => {
    const seen: number[] = [];
    new MarkerScanner(markerPrefix('r2')).scan(Buffer.from(updateMessage(input(3))), (_k, s) => seen.push(s));
    expect(seen).toEqual([]);
  });

  it('counts each event once however an SSE stream is cut into chunks', () => {
    const body = [1, 2, 3]
      .map(
        (s) =>
          `event: update\ndata: ${JSON.stringify(JSON.parse(updateMessage(input(s))).payload)}\n\n:thump\n\n`,
      )
      .join('');
    const bytes = Buffer.from(body);
    for (let cut = 1; cut < bytes.length; cut += 3) {
      for (const second of [cut + 1, cut + 97, bytes.length]) {
        const stream = new StreamScanner(scanner);
        const seen: number[] = [];
        const on = (_k: number, s: number) => seen.push(s);
        stream.push(bytes.subarray(0, cut), on);
        stream.push(bytes.subarray(cut, Math.min(second, bytes.length)), on);
        stream.push(bytes.subarray(Math.min(second, bytes.length)), on);
        expect(seen).toEqual([1, 2, 3]);
      }
    }
  });

  it('payloads are about 3 KB of valid JSON', () => {
    for (let s = 1; s <= 20; s++) {
      const m = updateMessage(input(s));
      expect(() => JSON.parse(m)).not.toThrow();
      expect(m.length).toBeGreaterThan(2000);
      expect(m.length).toBeLessThan(5000);
    }
  });

  it('templated messages carry their own id, time and marker', () => {
    const t = new UpdateTemplates('r1', prng(1), 2);
    const a = t.render(author, ['bench'], true, 's', 40, 1_790_000_000_000_040);
    const b = t.render(author, ['bench'], true, 's', 42, 1_790_000_000_100_042);
    const pa = JSON.parse(a).payload;
    const pb = JSON.parse(b).payload;
    expect(pa.id).not.toBe(pb.id);
    expect(pb.created_at).toBe(new Date(1_790_000_000_100).toISOString());
    expect(pb.media_attachments).toHaveLength(1);
    const seen: [number, number][] = [];
    scanner.scan(Buffer.from(b), (_k, s, ts) => seen.push([s, ts]));
    expect(seen).toEqual([[42, 1_790_000_000_100_042]]);
    expect(b).not.toContain('@@');
  });
});
