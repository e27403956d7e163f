import { describe, expect, it } from 'vitest';
import { spreadClose } from './drain.js';

function fakeClock() {
  let t = 0;
  const sleep = async (ms: number) => {
    t += ms;
  };
  return { now: () => t, sleep };
}

describe('write - drain spreads closes', () => {
  it('closes everything inside the window, evenly', async () => {
    const clock = fakeClock();
    const closedAt: number[] = [];
    const items = Array.from({ length: 2000 }, (_, i) => i);
    await spreadClose(items, () => closedAt.push(clock.now()), { windowMs: 30_000, tickMs: 50, ...clock });
    expect(closedAt).toHaveLength(2000);
    expect(Math.max(...closedAt)).toBeLessThan(30_000);
    // Each tenth of the window closes about a tenth of the connections.
    for (let k = 0; k < 10; k++) {
      const n = closedAt.filter((t) => t >= k * 3000 && t < (k + 1) * 3000).length;
      expect(n).toBeGreaterThan(150);
      expect(n).toBeLessThan(250);
    }
  });

  it('closes few connections one at a time over the window', async () => {
    const clock = fakeClock();
    const closedAt: number[] = [];
    await spreadClose([1, 2, 3], () => closedAt.push(clock.now()), { windowMs: 3000, tickMs: 50, ...clock });
    expect(closedAt).toEqual([0, 1000, 2000]);
  });

  it('closes everything at once with a zero window', async () => {
    const seen: number[] = [];
    await spreadClose([1, 2, 3], (i) => seen.push(i), { windowMs: 0 });
    expect(seen).toEqual([1, 2, 3]);
  });
});
