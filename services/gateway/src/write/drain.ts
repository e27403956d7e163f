/**
 * Graceful drain (DESIGN decision 11): connections are closed spread evenly over a window, so the
 * clients of a restarting pod reconnect elsewhere gradually instead of all at once.
 */

export interface SpreadOptions {
  /** The whole window; every close happens inside it. 0 closes everything at once. */
  windowMs: number;
  /** Granularity of the schedule. */
  tickMs?: number;
  /** Clock seam for tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `close` for every item, spread evenly across `[0, windowMs)`: by elapsed time `t` about
 * `n * (t + tick) / window` items are closed, so the last batch goes out one tick before the end.
 * Resolves once every item has been closed.
 */
export async function spreadClose<T>(
  items: readonly T[],
  close: (item: T) => void,
  opts: SpreadOptions,
): Promise<void> {
  const n = items.length;
  if (n === 0) return;
  const tick = Math.max(1, opts.tickMs ?? 50);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  if (opts.windowMs <= tick) {
    for (const item of items) close(item);
    return;
  }
  const start = now();
  let done = 0;
  while (done < n) {
    const elapsed = now() - start;
    const target = Math.min(n, Math.ceil((n * (elapsed + tick)) / opts.windowMs));
    while (done < target) close(items[done++]!);
    if (done < n) await sleep(tick);
  }
}
