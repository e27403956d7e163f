/**
 * This process's event-loop delay, so a saturated load generator is never mistaken for a slow
 * server. The histogram of `monitorEventLoopDelay` counts the sampling interval itself; it is
 * subtracted here, so an idle loop reads about 0 ms.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;

export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export class LoopDelayMonitor {
  private readonly h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });

  constructor() {
    this.h.enable();
  }

  reset(): void {
    this.h.reset();
  }

  read(): LoopDelay {
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
    if (this.h.count === 0) return { p50: 0, p99: 0, max: 0 };
    return { p50: ms(this.h.percentile(50)), p99: ms(this.h.percentile(99)), max: ms(this.h.max) };
  }
}
