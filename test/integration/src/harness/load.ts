/**
 * A steady Redis publisher for outage tests. It keeps publishing numbered messages over a few
 * channels at a fixed pace and records, for each message, what Redis answered: how many
 * subscribers received it, or that the command failed (Redis down: the message may or may not
 * have been published). Every message has a unique payload `{"load":"<runId>","ch":<k>,"n":<n>}`,
 * so deliveries can be matched one by one.
 */
import type { Redis } from 'ioredis';
import { delay } from './wait.js';

export interface LoadRecord {
  channel: string;
  /** Channel index in the channel list. */
  ch: number;
  /** Sequence number within the channel (publishing order). */
  n: number;
  /** The payload string clients must receive. */
  payload: string;
  /** Subscribers that received it (0 = nobody did), or 'error' when PUBLISH failed or its outcome is unknown. */
  outcome: number | 'error';
}

export interface LoadOptions {
  /** Prefix of every Redis channel (e.g. `ns:` for REDIS_NAMESPACE); not part of `LoadRecord.channel`. */
  redisPrefix?: string;
  /** Messages per tick, spread round-robin over the channels. */
  batch?: number;
  /** Pause between ticks (pacing, not synchronisation). */
  intervalMs?: number;
}

export class LoadPublisher {
  readonly records: LoadRecord[] = [];
  private readonly next: number[];
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly batch: number;
  private readonly intervalMs: number;
  private readonly redisPrefix: string;

  constructor(
    private readonly redis: Redis,
    readonly runId: string,
    readonly channels: string[],
    opts: LoadOptions = {},
  ) {
    this.next = channels.map(() => 0);
    this.batch = opts.batch ?? 50;
    this.intervalMs = opts.intervalMs ?? 10;
    this.redisPrefix = opts.redisPrefix ?? '';
  }

  /** Messages some subscriber received (PUBLISH returned ≥ 1). */
  get confirmed(): number {
    let c = 0;
    for (const r of this.records) if (typeof r.outcome === 'number' && r.outcome > 0) c++;
    return c;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.publishBatch(this.batch);
        await delay(this.intervalMs);
      }
    })();
  }

  /** Stops after the batch in progress. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = null;
  }

  /** Publishes `count` messages now (outside or inside the loop). */
  async publishBatch(count: number): Promise<LoadRecord[]> {
    const batch: LoadRecord[] = [];
    for (let i = 0; i < count; i++) {
      const ch = (this.records.length + batch.length) % this.channels.length;
      const n = this.next[ch]!++;
      const payload = JSON.stringify({ load: this.runId, ch, n });
      batch.push({ channel: this.channels[ch]!, ch, n, payload, outcome: 'error' });
    }
    const pipeline = this.redis.pipeline();
    for (const r of batch)
      pipeline.publish(this.redisPrefix + r.channel, JSON.stringify({ event: 'update', payload: r.payload }));
    try {
      const results = await pipeline.exec();
      results?.forEach(([err, value], i) => {
        if (!err && typeof value === 'number') batch[i]!.outcome = value;
      });
    } catch {
      // Connection down: every outcome stays 'error' (unknown).
    }
    this.records.push(...batch);
    for (const l of [...this.listeners]) l();
    return batch;
  }

  /** Resolves once `predicate()` holds after some batch; rejects after `timeoutMs`. */
  waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (predicate()) return resolve();
      const check = () => {
        if (predicate()) {
          this.listeners.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new Error(
            `load publisher: timed out after ${timeoutMs} ms waiting for ${what} (published ${this.records.length})`,
          ),
        );
      }, timeoutMs);
      this.listeners.add(check);
    });
  }
}

/** Parses a load payload back (`null` for data that is not one of ours). */
export function parseLoad(data: string, runId: string): { ch: number; n: number } | null {
  try {
    const v = JSON.parse(data) as { load?: unknown; ch?: unknown; n?: unknown };
    if (v.load !== runId || typeof v.ch !== 'number' || typeof v.n !== 'number') return null;
    return { ch: v.ch, n: v.n };
  } catch {
    return null;
  }
}
