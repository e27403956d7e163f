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
  /**
   * The previous sequence on the same channel (`Nats-Last-Sequence`); 0 or absent when unknown
   * (the conduit no longer held it). A repaired event whose predecessor is neither delivered nor
   * read was evicted.
   */
  readonly lastSeq?: number | undefined;
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
  /**
   * Gap repair (`gap-repair.ts`): prepares reading what was stored after `floor`, the newest
   * sequence this pod received before its connection dropped.
   */
  gapReader(floor: number): Promise<GapReader>;
}

export interface GapReader {
  /** The oldest sequence the buffer still holds: a gap that began before it is partly gone. */
  readonly first: number;
  /** The newest sequence stored; below the floor, the stream was recreated meanwhile. */
  readonly last: number;
  /**
   * One pass over the replay stream in stored order, whatever the number of channels waiting:
   * from around the floor (a little before it: RePublish may store events slightly out of
   * conduit order, and the reorderer may have held one) to the stream's end when the reader was
   * made (later events arrive live). At most `limit` messages are scanned. Only events whose
   * channel `wanted` accepts are returned; the others are skipped without decoding their headers.
   */
  scan(limit: number, wanted: (channel: string) => boolean): GapScan;
}

/** A scan under way (`GapReader.scan`). */
export interface GapScan {
  /**
   * The wanted events of the next stretch of the stream, in stored order (possibly none), or
   * null once the scan is over. One call at a time.
   */
  next(): Promise<StoredEvent[] | null>;
  /** Once `next` returned null: false when `limit` stopped the scan before the end. */
  readonly complete: boolean;
  /** Messages scanned so far. */
  readonly scanned: number;
  /** Stops the scan and frees what it holds (a consumer); safe to call more than once. */
  close(): void;
}

/** Merges per-channel ascending lists into one ascending list of at most `limit`. */
export function mergeBySequence(lists: readonly (readonly StoredEvent[])[], limit: number): StoredEvent[] {
  const all = lists.length === 1 ? [...lists[0]!] : lists.flat().sort((a, b) => a.seq - b.seq);
  return all.length > limit ? all.slice(0, limit) : all;
}
