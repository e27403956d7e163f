import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SubjectReorderer } from './reorder.js';

function harness(holdMs = 100) {
  const out: [string, number][] = [];
  const gaps: [string, number][] = [];
  const timers: { fn: () => void; at: number; live: boolean }[] = [];
  let now = 0;
  const r = new SubjectReorderer<number>({
    holdMs,
    deliver: (s, v) => out.push([s, v]),
    onGap: (s, n) => gaps.push([s, n]),
    setTimer: (fn, ms) => {
      const t = { fn, at: now + ms, live: true };
      timers.push(t);
      return t as never;
    },
    clearTimer: (t) => {
      (t as unknown as { live: boolean }).live = false;
    },
  });
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers)
      if (t.live && t.at <= now) {
        t.live = false;
        t.fn();
      }
  };
  return { r, out, gaps, advance };
}

describe('reorder - per-subject stream order from Nats-Last-Sequence', () => {
  it('holds a message whose predecessor has not arrived and releases both in order', () => {
    const { r, out } = harness();
    r.push('a', { seq: 1, lastSeq: 0 }, 1);
    r.push('a', { seq: 5, lastSeq: 3 }, 5);
    expect(out).toEqual([['a', 1]]);
    r.push('b', { seq: 4, lastSeq: 0 }, 4);
    r.push('a', { seq: 3, lastSeq: 1 }, 3);
    expect(out).toEqual([
      ['a', 1],
      ['b', 4],
      ['a', 3],
      ['a', 5],
    ]);
  });

  it('gives up on a missing predecessor after holdMs and reports the gap', () => {
    const { r, out, gaps, advance } = harness(100);
    r.push('a', { seq: 1, lastSeq: 0 }, 1);
    r.push('a', { seq: 9, lastSeq: 7 }, 9);
    advance(99);
    expect(out).toEqual([['a', 1]]);
    advance(1);
    expect(out).toEqual([
      ['a', 1],
      ['a', 9],
    ]);
    expect(gaps).toEqual([['a', 1]]);
    // The late predecessor is still delivered, not lost.
    r.push('a', { seq: 7, lastSeq: 1 }, 7);
    expect(out.at(-1)).toEqual(['a', 7]);
  });

  it('messages without a sequence pass straight through', () => {
    const { r, out } = harness();
    r.push('a', null, 1);
    expect(out).toEqual([['a', 1]]);
  });

  it('reports the last delivered sequence and hands held messages over without delivering them', () => {
    const { r, out, gaps, advance } = harness(100);
    expect(r.lastDelivered('a')).toBeUndefined();
    r.push('a', { seq: 2, lastSeq: 0 }, 2);
    r.push('a', { seq: 6, lastSeq: 5 }, 6);
    r.push('a', { seq: 4, lastSeq: 3 }, 4);
    expect(r.lastDelivered('a')).toBe(2);
    expect(r.takeHeld('a').map((h) => [h.seq, h.lastSeq, h.item])).toEqual([
      [4, 3, 4],
      [6, 5, 6],
    ]);
    expect(r.heldCount()).toBe(0);
    // The hold was cancelled: nothing is released or reported later.
    advance(500);
    expect(out).toEqual([['a', 2]]);
    expect(gaps).toEqual([]);
    expect(r.takeHeld('none')).toEqual([]);
  });

  it('skipTo gives up on known-lost predecessors and releases what waited for them', () => {
    const { r, out, gaps } = harness();
    r.push('a', { seq: 1, lastSeq: 0 }, 1);
    r.push('a', { seq: 7, lastSeq: 5 }, 7);
    r.push('a', { seq: 9, lastSeq: 7 }, 9);
    expect(out).toEqual([['a', 1]]);
    r.skipTo('a', 5);
    expect(out).toEqual([
      ['a', 1],
      ['a', 7],
      ['a', 9],
    ]);
    expect(gaps).toEqual([]);
    // A subject never seen starts its chain there.
    r.skipTo('b', 10);
    expect(r.lastDelivered('b')).toBe(10);
    r.push('b', { seq: 12, lastSeq: 10 }, 12);
    expect(out.at(-1)).toEqual(['b', 12]);
  });

  it('property: any arrival permutation of a subject chain is delivered in stream order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 60 }),
        fc.infiniteStream(fc.nat()),
        (subjects, randomness) => {
          // Build the stream: global sequences, per-subject predecessor links.
          const last = new Map<string, number>();
          const stream = subjects.map((s, i) => {
            const m = { subject: s, seq: i + 1, lastSeq: last.get(s) ?? 0 };
            last.set(s, i + 1);
            return m;
          });
          // Arrival: the first message of each subject arrives first (a subscriber that was there
          // from the start), the rest in a locally shuffled order (swaps of neighbours).
          const arrival = [...stream];
          const rnd = randomness[Symbol.iterator]();
          for (let i = arrival.length - 1; i > 0; i--) {
            if (rnd.next().value % 3 === 0) [arrival[i], arrival[i - 1]] = [arrival[i - 1]!, arrival[i]!];
          }
          const firsts = new Set<number>();
          for (const s of new Set(subjects)) firsts.add(stream.find((m) => m.subject === s)!.seq);
          arrival.sort((x, y) => Number(firsts.has(y.seq)) - Number(firsts.has(x.seq)));
          const { r, out } = harness();
          for (const m of arrival) r.push(m.subject, m, m.seq);
          r.flushAll();
          for (const s of new Set(subjects)) {
            const got = out.filter(([x]) => x === s).map(([, v]) => v);
            expect(got).toEqual(stream.filter((m) => m.subject === s).map((m) => m.seq));
          }
        },
      ),
    );
  });
});
