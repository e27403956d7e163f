/**
 * Per-channel order at the receiving end of RePublish.
 *
 * The stream stores events in order, but nats-server 2.9.10 republishes concurrently when two
 * connections (two ingest replicas) publish at once: a subscriber of the `ev` subjects sees
 * `Nats-Sequence` go backwards a few dozen times per 20,000 messages (measured; see
 * docs/benchmarks.md), which can swap two events of one channel. RePublish also sends
 * `Nats-Last-Sequence`: the sequence of the previous message stored on the same subject. With it,
 * a receiver knows when a message's predecessor has not arrived yet, holds the message briefly,
 * and releases both in stream order. A predecessor that never comes (lost on a reconnect, or
 * evicted) releases the held messages after `holdMs`.
 */

export interface Sequenced {
  /** Stream sequence (`Nats-Sequence`). */
  seq: number;
  /** Previous sequence on the same subject (`Nats-Last-Sequence`); 0 when it is the first. */
  lastSeq: number;
}

interface SubjectState<T> {
  last: number;
  held: (Sequenced & { item: T })[];
  timer: ReturnType<typeof setTimeout> | null;
}

export interface ReorderOptions<T> {
  /** How long a message may wait for its predecessor. */
  holdMs: number;
  deliver: (subject: string, item: T) => void;
  /** A hold expired without the predecessor (counted by the caller). */
  onGap?: (subject: string, held: number) => void;
  /** Injectable timers for tests; defaults to the global ones. */
  setTimer?: (fn: () => void, ms: number) => ReturnType<typeof setTimeout>;
  clearTimer?: (t: ReturnType<typeof setTimeout>) => void;
}

export class SubjectReorderer<T> {
  private readonly subjects = new Map<string, SubjectState<T>>();
  private readonly setTimer: NonNullable<ReorderOptions<T>['setTimer']>;
  private readonly clearTimer: NonNullable<ReorderOptions<T>['clearTimer']>;

  constructor(private readonly opts: ReorderOptions<T>) {
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t));
  }

  /** Hands over one message; it is delivered now or once its predecessor has been. */
  push(subject: string, pos: Sequenced | null, item: T): void {
    if (pos === null) {
      // Not republished (no sequence): nothing to order by.
      this.opts.deliver(subject, item);
      return;
    }
    let st = this.subjects.get(subject);
    if (!st) {
      // The first message we see on a subject starts its chain, whatever came before.
      st = { last: pos.seq, held: [], timer: null };
      this.subjects.set(subject, st);
      this.opts.deliver(subject, item);
      return;
    }
    if (pos.lastSeq <= st.last || pos.seq <= st.last) {
      // Its predecessor was delivered (or it is late after a gap was given up on): send it.
      if (pos.seq > st.last) st.last = pos.seq;
      this.opts.deliver(subject, item);
      this.release(subject, st);
      return;
    }
    st.held.push({ ...pos, item });
    st.held.sort((a, b) => a.seq - b.seq);
    st.timer ??= this.setTimer(() => this.expire(subject), this.opts.holdMs);
  }

  /** Drops a subject's state (its last subscriber went away); held messages are delivered. */
  forget(subject: string): void {
    const st = this.subjects.get(subject);
    if (!st) return;
    this.flushHeld(subject, st);
    this.subjects.delete(subject);
  }

  /** Delivers everything held, in sequence order (end of an offline replay, shutdown). */
  flushAll(): void {
    for (const [subject, st] of this.subjects) this.flushHeld(subject, st);
  }

  /** The highest sequence delivered on a subject; undefined before its first sequenced message. */
  lastDelivered(subject: string): number | undefined {
    return this.subjects.get(subject)?.last;
  }

  /**
   * Removes a subject's held messages (ascending) without delivering them, and cancels their
   * hold: the caller delivers them itself (gap repair after a lost connection).
   */
  takeHeld(subject: string): (Sequenced & { item: T })[] {
    const st = this.subjects.get(subject);
    if (!st) return [];
    if (st.timer) {
      this.clearTimer(st.timer);
      st.timer = null;
    }
    const held = st.held;
    st.held = [];
    return held;
  }

  /**
   * The subject's messages up to `seq` will not come (known lost): stop waiting for them and
   * release what they held back.
   */
  skipTo(subject: string, seq: number): void {
    const st = this.subjects.get(subject);
    if (!st) {
      this.subjects.set(subject, { last: seq, held: [], timer: null });
      return;
    }
    if (seq > st.last) st.last = seq;
    this.release(subject, st);
  }

  /** Messages currently waiting for a predecessor. */
  heldCount(): number {
    let n = 0;
    for (const st of this.subjects.values()) n += st.held.length;
    return n;
  }

  private release(subject: string, st: SubjectState<T>): void {
    while (st.held.length > 0 && st.held[0]!.lastSeq <= st.last) {
      const next = st.held.shift()!;
      if (next.seq > st.last) st.last = next.seq;
      this.opts.deliver(subject, next.item);
    }
    if (st.held.length === 0 && st.timer) {
      this.clearTimer(st.timer);
      st.timer = null;
    }
  }

  private expire(subject: string): void {
    const st = this.subjects.get(subject);
    if (!st) return;
    st.timer = null;
    if (st.held.length === 0) return;
    this.opts.onGap?.(subject, st.held.length);
    this.flushHeld(subject, st);
  }

  private flushHeld(subject: string, st: SubjectState<T>): void {
    if (st.timer) {
      this.clearTimer(st.timer);
      st.timer = null;
    }
    const held = st.held;
    st.held = [];
    for (const h of held) {
      if (h.seq > st.last) st.last = h.seq;
      this.opts.deliver(subject, h.item);
    }
  }
}

/** Reads `Nats-Sequence` / `Nats-Last-Sequence` from republished message headers. */
export function readSequenced(
  h: { get(name: string): string; has(name: string): boolean } | undefined,
): Sequenced | null {
  if (!h?.has('Nats-Sequence')) return null;
  const seq = Number(h.get('Nats-Sequence'));
  const lastSeq = h.has('Nats-Last-Sequence') ? Number(h.get('Nats-Last-Sequence')) : 0;
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(lastSeq)) return null;
  return { seq, lastSeq };
}
