import { describe, expect, it } from 'vitest';
import { OccurrenceCounter } from './occurrences.js';

describe('normalise - occurrence counter', () => {
  it('gives repeats within the window their own ids, the same on every replica', () => {
    let now = 0;
    const a = new OccurrenceCounter(30_000, () => now);
    const b = new OccurrenceCounter(30_000, () => now);
    const ids = (c: OccurrenceCounter) => [c.idFor('kill'), c.idFor('x'), c.idFor('kill'), c.idFor('kill')];
    expect(ids(a)).toEqual(['kill', 'x', 'kill.1', 'kill.2']);
    now = 10;
    expect(ids(b)).toEqual(['kill', 'x', 'kill.1', 'kill.2']);
  });

  it('starts again from the base id once the window has passed since the last occurrence', () => {
    let now = 0;
    const c = new OccurrenceCounter(1000, () => now);
    expect(c.idFor('m')).toBe('m');
    now = 900;
    expect(c.idFor('m')).toBe('m.1');
    now = 1800;
    expect(c.idFor('m')).toBe('m.2');
    now = 2801;
    expect(c.idFor('m')).toBe('m');
  });

  it('forgets expired entries so memory stays bounded by the window', () => {
    let now = 0;
    const c = new OccurrenceCounter(1000, () => now);
    for (let i = 0; i < 100; i++) c.idFor(`m${i}`);
    now = 5000;
    c.idFor('fresh');
    expect(c.size()).toBe(1);
  });
});
