import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../testing.js';
import { IDLE_GC_DEFAULTS, IdleGc } from './idle-gc.js';

const MB = 1048576;

function setup(start = 100 * MB) {
  const state = { heap: start, busy: 0, collections: 0, freed: [] as number[] };
  const { logger, lines } = memoryLogger();
  const idle = new IdleGc({
    ...IDLE_GC_DEFAULTS,
    checkMs: 1000,
    logger,
    gc: () => {
      state.collections++;
      state.heap = 110 * MB;
      return Promise.resolve();
    },
    heapUsed: () => state.heap,
    utilisation: () => state.busy,
    onCollect: (before, after) => state.freed.push(before - after),
  });
  return { idle, state, lines };
}

describe('IdleGc', () => {
  it('collects once the loop is quiet and the heap grew by a quarter and 32 MB', async () => {
    const { idle, state, lines } = setup();
    state.heap = 120 * MB; // +20 MB: not worth it
    expect(await idle.check()).toBe(false);
    state.heap = 140 * MB; // +40 MB, +40%, but busy
    state.busy = 0.3;
    expect(await idle.check()).toBe(false);
    state.busy = 0.01;
    expect(await idle.check()).toBe(true);
    expect(state.collections).toBe(1);
    expect(state.freed).toEqual([30 * MB]);
    expect(lines.at(-1)).toMatchObject({ heapBeforeMb: 140, heapAfterMb: 110 });
    // The floor is now what the collection left: no second one without new growth.
    expect(await idle.check()).toBe(false);
    state.heap = 150 * MB; // +40 MB over 110: +36%
    expect(await idle.check()).toBe(true);
    expect(state.collections).toBe(2);
  });

  it('follows the heap down after a collection of V8 its own', async () => {
    const { idle, state } = setup(200 * MB);
    state.heap = 60 * MB;
    expect(await idle.check()).toBe(false);
    state.heap = 95 * MB; // +35 MB over 60: +58%
    expect(await idle.check()).toBe(true);
  });

  it('does nothing without an exposed gc', () => {
    const { logger, lines } = memoryLogger();
    const g = globalThis as { gc?: unknown };
    const saved = g.gc;
    g.gc = undefined;
    try {
      expect(new IdleGc({ ...IDLE_GC_DEFAULTS, checkMs: 1000, logger }).start()).toBe(false);
      expect(lines.at(-1)?.['msg']).toBe('Idle GC off: node runs without --expose-gc');
    } finally {
      g.gc = saved;
    }
  });
});

describe('the gc call the idle GC relies on', () => {
  it("node --expose-gc: gc({ flavor: 'last-resort', execution: 'async' }) returns a promise and frees the garbage", () => {
    const script = `
      globalThis.live = [];
      for (let i = 0; i < 100000; i++) live.push({ i });
      let junk = [];
      for (let r = 0; r < 10; r++) { junk = []; for (let i = 0; i < 100000; i++) junk.push({ i, s: 'x' + i }); }
      junk = null;
      const before = process.memoryUsage().heapUsed;
      const p = gc({ type: 'major', execution: 'async', flavor: 'last-resort' });
      Promise.resolve(p).then(() => {
        console.log(JSON.stringify({ promise: p instanceof Promise, before, after: process.memoryUsage().heapUsed }));
      });`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' }),
    );
    expect(out.promise).toBe(true);
    expect(out.after).toBeLessThan(out.before * 0.8);
  });
});
