import { describe, expect, it } from 'vitest';
import { interleave } from '../scenarios/load-specs.js';
import { Histogram } from './histogram.js';

describe('histogram - percentiles', () => {
  it('is exact below 128 and within 2% above', () => {
    const h = new Histogram();
    for (let v = 1; v <= 100_000; v++) h.record(v);
    expect(h.count).toBe(100_000);
    expect(h.max).toBe(100_000);
    for (const p of [50, 90, 99, 99.9]) {
      const want = (p / 100) * 100_000;
      expect(Math.abs(h.percentile(p) - want) / want).toBeLessThan(0.02);
    }
    const small = new Histogram();
    for (const v of [3, 5, 7, 9]) small.record(v);
    expect(small.percentile(50)).toBe(5);
  });

  it('merges through its serialised form', () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let v = 0; v < 1000; v++) (v % 2 ? a : b).record(v * 37);
    const m = Histogram.from(a.toData());
    m.merge(b.toData());
    const all = new Histogram();
    for (let v = 0; v < 1000; v++) all.record(v * 37);
    expect(m.summary()).toEqual(all.summary());
  });
});

describe('scenario - interleave', () => {
  it('assigns by weight, evenly interleaved', () => {
    const out = interleave({ a: 1, b: 1, c: 2 }, 400);
    expect(out.filter((x) => x === 'c').length).toBe(200);
    expect(out.filter((x) => x === 'a').length).toBe(100);
    expect(new Set(out.slice(0, 4)).size).toBe(3);
  });
});
