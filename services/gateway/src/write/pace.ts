/**
 * Paced writes for server-initiated bulk (an SSE resume replaying what a client missed): wait
 * while the client's send buffer is full instead of cutting it off, and only treat it as a slow
 * client when it does not read for `timeoutMs`. Live fan-out never waits (one slow reader must
 * not delay the others); a replay concerns one connection, so it can.
 */
import type { Connection } from './connection.js';

export interface PaceOptions {
  /** How long a full buffer may stay full before the client counts as slow. */
  timeoutMs?: number;
  /** How often the buffer is looked at while waiting. */
  pollMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Writes `frame` once it fits; false when the connection closed or stayed full (then closed as slow). */
export async function sendPaced(conn: Connection, frame: Buffer, opts: PaceOptions = {}): Promise<boolean> {
  if (!conn.closed && !conn.fits(frame.length)) {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    const poll = opts.pollMs ?? 10;
    while (!conn.closed && !conn.fits(frame.length) && Date.now() < deadline) await sleep(poll);
  }
  return conn.send(frame);
}
