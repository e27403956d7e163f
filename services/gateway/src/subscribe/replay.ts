/**
 * The replay seam: JetStream keeps recent events (the stream's retention is the replay buffer,
 * DESIGN decision 3). `replay-jetstream.ts` reads it; `replay-memory.ts` is for tests.
 */
import type { HeaderSource } from '@sluice/shared';

export interface StoredEvent {
  /** Stream sequence: the SSE `id:`. */
  readonly seq: number;
  /** The Redis channel the event was published on. */
  readonly channel: string;
  readonly data: Uint8Array;
  readonly headers?: HeaderSource | undefined;
}

export interface ReplayRead {
  /** Ascending by sequence. */
  readonly events: StoredEvent[];
  /**
   * False when events after `from` may be gone: a channel holds as many messages as the
   * per-subject cap keeps (older ones were evicted), or `limit` cut the list.
   */
  readonly complete: boolean;
}

export interface ReplaySource {
  /** First and last sequence currently in the stream (first > last when it is empty). */
  bounds(): Promise<{ first: number; last: number }>;
  /**
   * Stored events of `channels` with sequence ≥ `from`, at most `limit`, up to the stream's end
   * at the time of the call.
   */
  read(channels: readonly string[], from: number, limit: number): Promise<ReplayRead>;
}

/** Merges per-channel ascending lists into one ascending list of at most `limit`. */
export function mergeBySequence(lists: readonly (readonly StoredEvent[])[], limit: number): StoredEvent[] {
  const all = lists.length === 1 ? [...lists[0]!] : lists.flat().sort((a, b) => a.seq - b.seq);
  return all.length > limit ? all.slice(0, limit) : all;
}
