import type { TransportType } from '../model.js';
import type { EndReason, Sink } from './sink.js';

/** A sink that records what it is given; `stalled` makes it keep everything buffered. */
export class MemorySink implements Sink {
  readonly frames: string[] = [];
  heartbeats = 0;
  ended: EndReason | null = null;
  aborted = false;
  /** While true, written bytes stay "buffered" (a client that stopped reading). */
  stalled = false;
  private pending = 0;

  constructor(readonly type: TransportType) {}

  buffered(): number {
    return this.pending;
  }

  write(frame: Buffer): void {
    this.frames.push(frame.toString('utf8'));
    if (this.stalled) this.pending += frame.length;
  }

  /** The client read everything written so far. */
  drain(): void {
    this.pending = 0;
  }

  heartbeat(): void {
    this.heartbeats++;
  }

  end(reason: EndReason): void {
    this.ended ??= reason;
  }

  abort(): void {
    this.aborted = true;
  }

  isOpen(): boolean {
    return this.ended === null && !this.aborted;
  }
}
