/**
 * Finds bench markers (`sluice-bench/<run>/<kind><seq>/<µs>/`, see publish/status.ts) in raw
 * bytes: one `indexOf` per event, no JSON parsing, so a client costs little CPU per delivery.
 */

const SLASH = 0x2f;
const ZERO = 0x30;
const NINE = 0x39;

export type OnMark = (kind: number, seq: number, tsUs: number) => void;

export class MarkerScanner {
  readonly needle: Buffer;

  constructor(prefix: string) {
    this.needle = Buffer.from(prefix, 'utf8');
  }

  /**
   * Reports every complete marker in `buf` from `from`. Returns the offset from which bytes
   * must be kept for the next chunk (a marker cut by the chunk boundary), or -1 if none.
   */
  scan(buf: Buffer, onMark: OnMark, from = 0): number {
    let pos = from;
    let lastEnd = from;
    for (;;) {
      const i = buf.indexOf(this.needle, pos);
      if (i < 0) break;
      let j = i + this.needle.length;
      if (j >= buf.length) return i;
      const kind = buf[j]!;
      j++;
      let seq = 0;
      let c = buf[j] ?? 0;
      while (j < buf.length && c >= ZERO && c <= NINE) {
        seq = seq * 10 + (c - ZERO);
        c = buf[++j] ?? 0;
      }
      if (j >= buf.length) return i;
      if (c !== SLASH) {
        pos = j;
        continue;
      }
      j++;
      let ts = 0;
      c = buf[j] ?? 0;
      while (j < buf.length && c >= ZERO && c <= NINE) {
        ts = ts * 10 + (c - ZERO);
        c = buf[++j] ?? 0;
      }
      if (j >= buf.length) return i;
      pos = j;
      lastEnd = j;
      if (c === SLASH) onMark(kind, seq, ts);
    }
    // A needle may begin in the last needle.length - 1 bytes (never inside a parsed marker).
    const n = this.needle.length;
    for (let k = Math.max(lastEnd, buf.length - (n - 1)); k < buf.length; k++) {
      if (buf[k] === this.needle[0] && this.needle.compare(buf, k, buf.length, 0, buf.length - k) === 0)
        return k;
    }
    return -1;
  }
}

/** Scans a byte stream arriving in chunks (SSE), carrying a cut marker over to the next chunk. */
export class StreamScanner {
  private carry: Buffer | null = null;

  constructor(private readonly scanner: MarkerScanner) {}

  push(chunk: Buffer, onMark: OnMark): void {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    const keep = this.scanner.scan(buf, onMark);
    // Copy: a subarray would keep the whole chunk alive.
    this.carry = keep >= 0 ? Buffer.from(buf.subarray(keep)) : null;
  }
}
