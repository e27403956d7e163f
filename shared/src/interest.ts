/**
 * The interest protocol (DESIGN decision 9). Gateways tell ingest which Redis channels have
 * local subscribers, because Rails publishes personal timelines only while a
 * `subscribed:<channel>` key exists. Messages are JSON on `<prefix>.ctl.interest`:
 *   `add`      — sent at once when a channel gains its first subscriber on a pod;
 *   `snapshot` — every channel a pod holds, re-sent periodically (chunked to stay small).
 * There is no `remove`: a channel nobody re-announces expires, and so does a dead gateway.
 */

export interface InterestMessage {
  v: 1;
  op: 'add' | 'snapshot';
  /** Identifies the announcing gateway (for logs and metrics). */
  gateway: string;
  channels: string[];
}

/** Keeps each message well below NATS's default 1 MiB max payload. */
export const INTEREST_CHUNK_BYTES = 256 * 1024;

export function encodeInterest(msg: InterestMessage): Uint8Array {
  return Buffer.from(JSON.stringify(msg));
}

export class InterestDecodeError extends Error {
  override readonly name = 'InterestDecodeError';
}

export function decodeInterest(data: Uint8Array): InterestMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch (err) {
    throw new InterestDecodeError('interest message is not JSON', { cause: err });
  }
  const m = parsed as Partial<InterestMessage> | null;
  if (
    m?.v !== 1 ||
    (m.op !== 'add' && m.op !== 'snapshot') ||
    typeof m.gateway !== 'string' ||
    !Array.isArray(m.channels) ||
    !m.channels.every((c) => typeof c === 'string' && c.length > 0)
  ) {
    throw new InterestDecodeError('interest message has the wrong shape');
  }
  return m as InterestMessage;
}

/**
 * Splits a channel list into messages whose encoding is at most `maxBytes` (default
 * {@link INTEREST_CHUNK_BYTES}); a channel too large for any message travels alone. Sizes are
 * those of the JSON encoding (escapes included) plus the envelope with the gateway name.
 */
export function chunkInterest(
  op: InterestMessage['op'],
  gateway: string,
  channels: Iterable<string>,
  maxBytes = INTEREST_CHUNK_BYTES,
): InterestMessage[] {
  const out: InterestMessage[] = [];
  const empty = Buffer.byteLength(JSON.stringify({ v: 1, op, gateway, channels: [] }));
  let cur: string[] = [];
  let size = empty;
  for (const c of channels) {
    // The encoded string plus a separating comma (one more than needed, for the first).
    const n = Buffer.byteLength(JSON.stringify(c)) + 1;
    if (cur.length > 0 && size + n > maxBytes) {
      out.push({ v: 1, op, gateway, channels: cur });
      cur = [];
      size = empty;
    }
    cur.push(c);
    size += n;
  }
  if (cur.length > 0) out.push({ v: 1, op, gateway, channels: cur });
  return out;
}
