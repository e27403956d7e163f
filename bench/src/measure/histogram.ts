/**
 * A small mergeable log-linear histogram of non-negative integers (microseconds here): exact
 * below 128, then 64 sub-buckets per power of two (≤ 1.6% relative error), up to 2^31. About
 * 14 KB per instance, so one per (transport, stream) group per process, never one per client.
 */

const SUB = 64;
const LINEAR = 2 * SUB;
const MAX_VALUE = 2 ** 31 - 1;
const SIZE = LINEAR + 25 * SUB;

function bucketIndex(v: number): number {
  if (v < LINEAR) return v;
  const e = 31 - Math.clz32(v);
  const shift = e - 6;
  return LINEAR + (shift - 1) * SUB + ((v >>> shift) - SUB);
}

/** Midpoint of a bucket (exact for the linear part). */
function bucketValue(i: number): number {
  if (i < LINEAR) return i;
  const shift = Math.floor((i - LINEAR) / SUB) + 1;
  const m = ((i - LINEAR) % SUB) + SUB;
  return (m << shift) + ((1 << shift) - 1) / 2;
}

export interface HistogramSummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Serialisable form for IPC: sparse [index, count] pairs. */
export interface HistogramData {
  pairs: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Float64Array(SIZE);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  record(value: number): void {
    const v = value < 0 ? 0 : value > MAX_VALUE ? MAX_VALUE : Math.round(value);
    this.counts[bucketIndex(v)]!++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  merge(other: Histogram | HistogramData): void {
    if (other instanceof Histogram) {
      for (let i = 0; i < SIZE; i++) this.counts[i]! += other.counts[i]!;
    } else {
      for (let j = 0; j + 1 < other.pairs.length; j += 2)
        this.counts[other.pairs[j]!]! += other.pairs[j + 1]!;
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  toData(): HistogramData {
    const pairs: number[] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]! > 0) pairs.push(i, this.counts[i]!);
    return { pairs, count: this.count, sum: this.sum, min: this.count ? this.min : 0, max: this.max };
  }

  static from(data: HistogramData): Histogram {
    const h = new Histogram();
    h.merge(data);
    return h;
  }

  /** Summary with every value divided by `scale` (1000: µs → ms), rounded to 3 decimals. */
  summary(scale = 1): HistogramSummary {
    const r = (v: number) => Math.round((v / scale) * 1000) / 1000;
    return {
      count: this.count,
      min: r(this.count ? this.min : 0),
      p50: r(this.percentile(50)),
      p90: r(this.percentile(90)),
      p99: r(this.percentile(99)),
      p999: r(this.percentile(99.9)),
      max: r(this.max),
      mean: r(this.count ? this.sum / this.count : 0),
    };
  }
}
