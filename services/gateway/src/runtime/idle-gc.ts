/**
 * A full garbage collection when the gateway has gone quiet after its heap grew.
 *
 * Why: V8 collects the old generation when allocation pushes it to its limit, and Chrome's
 * "memory reducer" also collects when a page goes idle; in Node nothing does the latter. A gateway
 * that took a reconnect storm or a burst of events and then settles keeps that garbage (and the
 * pages holding it) for as long as it stays quiet: tens of MB, 2 KB per connection in the `t3`
 * benchmark (docs/benchmarks.md, "Idle GC"). So when the event loop has been nearly idle for a
 * whole check interval and the heap has grown well past what the last collection left, this runs
 * one major GC. A busy gateway is never interrupted (it collects on its own), and a quiet one at
 * most once per growth step.
 *
 * Needs `global.gc` (`node --expose-gc`, a deployed flag); without it this does nothing.
 */
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '@sluice/shared';

export interface IdleGcOptions {
  /** How often to look (ms). */
  checkMs: number;
  /** Event-loop utilisation over the last interval at or below which the process counts as idle. */
  idleUtilisation: number;
  /** Growth of the used heap since the last collection (fraction) that makes one worth it... */
  growth: number;
  /** ...and at least this many bytes of it. */
  minBytes: number;
  logger: Logger;
  /** Told of each collection: bytes before, bytes after, milliseconds taken. */
  onCollect?: (before: number, after: number, ms: number) => void;
  /** Seams for tests: the collector (default `global.gc`), the used heap, the busy fraction. */
  gc?: GcFn;
  heapUsed?: () => number;
  utilisation?: () => number;
}

/** Idle: at most 5% of the last interval busy; worth it: the heap grew by a quarter and 32 MB. */
export const IDLE_GC_DEFAULTS = { idleUtilisation: 0.05, growth: 0.25, minBytes: 32 * 1048576 } as const;

export type GcFn = (options?: {
  type?: 'major' | 'minor';
  execution?: 'sync' | 'async';
  flavor?: 'regular' | 'last-resort';
}) => unknown;

export class IdleGc {
  private timer: NodeJS.Timeout | undefined;
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  /** Used heap after the last collection (ours, or the start). */
  private floor: number;
  private running = false;
  private readonly heapUsed: () => number;
  private readonly utilisation: () => number;

  constructor(private readonly opts: IdleGcOptions) {
    this.heapUsed = opts.heapUsed ?? (() => getHeapStatistics().used_heap_size);
    this.utilisation = opts.utilisation ?? (() => this.loopBusy());
    this.floor = this.heapUsed();
  }

  /** Starts looking; false when `gc` is not exposed (nothing to do). */
  start(): boolean {
    if (typeof this.gc() !== 'function') {
      this.opts.logger.info('Idle GC off: node runs without --expose-gc');
      return false;
    }
    this.timer = setInterval(() => void this.check(), this.opts.checkMs);
    this.timer.unref();
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private gc(): GcFn | undefined {
    return this.opts.gc ?? (globalThis as { gc?: GcFn }).gc;
  }

  /** Share of the time since the last look the event loop was busy. */
  private loopBusy(): number {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, this.elu).utilization;
    this.elu = now;
    return busy;
  }

  /** One look (public for tests): collects when idle and grown; resolves when done. */
  async check(): Promise<boolean> {
    const busy = this.utilisation();
    const used = this.heapUsed();
    // After a collection V8 ran by itself the heap may sit below the floor: follow it down.
    if (used < this.floor) this.floor = used;
    const grown = used - this.floor;
    if (this.running || busy > this.opts.idleUtilisation) return false;
    if (grown < this.opts.minBytes || grown < this.floor * this.opts.growth) return false;
    const gc = this.gc();
    if (typeof gc !== 'function') return false;
    this.running = true;
    const started = performance.now();
    try {
      // 'last-resort' is the collection that also hands freed pages back to the system: a
      // regular major GC empties them but keeps them (RSS unchanged; measured in
      // docs/benchmarks.md). It costs a few collections in a row, acceptable on a quiet loop.
      await gc({ type: 'major', execution: 'async', flavor: 'last-resort' });
    } finally {
      this.running = false;
    }
    const ms = performance.now() - started;
    const after = this.heapUsed();
    this.floor = after;
    // Do not count the collection's own time as load at the next look.
    this.elu = performance.eventLoopUtilization();
    this.opts.onCollect?.(used, after, ms);
    this.opts.logger.info(
      { heapBeforeMb: mb(used), heapAfterMb: mb(after), ms: Math.round(ms) },
      'Idle GC: collected the garbage of a quiet gateway',
    );
    return true;
  }
}

const mb = (bytes: number) => Math.round(bytes / 1048576);
