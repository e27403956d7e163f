import { describe, expect, it } from 'vitest';
import { StreamSet } from './stream-set.js';

describe('StreamSet', () => {
  it('behaves as a Map for one entry and for many, across deletes and re-adds', () => {
    const set = new StreamSet<number>();
    const map = new Map<string, number>();
    const ops: [string, string, number?][] = [
      ['set', 'a', 1],
      ['set', 'b', 2],
      ['set', 'a', 3],
      ['delete', 'a'],
      ['set', 'c', 4],
      ['set', 'b', 5],
      ['delete', 'b'],
      ['delete', 'zz'],
      ['set', 'a', 6],
      ['delete', 'c'],
      ['delete', 'a'],
      ['set', 'd', 7],
    ];
    for (const [op, key, value] of ops) {
      if (op === 'set') {
        set.set(key, value!);
        map.set(key, value!);
      } else {
        expect(set.delete(key)).toBe(map.delete(key));
      }
      expect(set.size).toBe(map.size);
      for (const k of ['a', 'b', 'c', 'd', 'zz']) {
        expect(set.has(k)).toBe(map.has(k));
        expect(set.get(k)).toBe(map.get(k));
      }
      expect(set.values().sort()).toEqual([...map.values()].sort());
    }
  });

  it('values() is a copy, safe to delete from while iterating', () => {
    const set = new StreamSet<string>();
    for (const k of ['x', 'y', 'z']) set.set(k, k);
    for (const v of set.values()) set.delete(v);
    expect(set.size).toBe(0);
  });
});
