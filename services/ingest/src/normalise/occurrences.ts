/**
 * Tells a repeated message from a copy.
 *
 * The dedup id is a hash of (channel, bytes), so that every replica computes the same id for
 * the same Redis message. But Rails legitimately publishes byte-identical messages again
 * (`{"event":"kill"}` on each disable, `notifications_merged` `"1"`, `filters_changed`); with
 * the hash alone JetStream would drop the second as a duplicate. Every replica sees the same
 * Redis messages in the same order, so the n-th occurrence of the same bytes on a channel is the
 * n-th on every replica: the id carries `n`, counted over the stream's duplicate window.
 *
 * A counter forgets a message `windowMs` after its last occurrence; by then JetStream has
 * forgotten the first occurrence's id too, so restarting from 0 is safe. (A replica that starts
 * between two identical messages counts from 0 where its peer counts 1: the peer's copy is
 * stored, the starter's is taken as a duplicate of the first — still stored once.)
 */
export class OccurrenceCounter {
  private readonly seen = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  private lastSweep = 0;

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The id to publish with: the base id for a first occurrence, `<base>.<n>` for repeats. */
  idFor(baseId: string): string {
    const now = this.now();
    if (now - this.lastSweep > this.windowMs / 4) this.sweep(now);
    const last = this.seen.get(baseId);
    let n = 0;
    if (last !== undefined && now - last <= this.windowMs) n = (this.counts.get(baseId) ?? 0) + 1;
    this.seen.delete(baseId);
    this.seen.set(baseId, now);
    if (n === 0) this.counts.delete(baseId);
    else this.counts.set(baseId, n);
    return n === 0 ? baseId : `${baseId}.${n}`;
  }

  size(): number {
    return this.seen.size;
  }

  /** Entries are kept in last-seen order, so expired ones are at the front. */
  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [id, at] of this.seen) {
      if (now - at <= this.windowMs) break;
      this.seen.delete(id);
      this.counts.delete(id);
    }
  }
}
