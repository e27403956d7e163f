import { describe, expect, it } from 'vitest';
import { bucketQuantile, delta, digest, parseMetrics } from './prometheus.js';

const scrape = (counts: number[]) =>
  parseMetrics(
    [
      '# TYPE sluice_gateway_event_latency_seconds histogram',
      ...['0.01', '0.1', '1', '+Inf'].map(
        (le, i) => `sluice_gateway_event_latency_seconds_bucket{le="${le}"} ${counts[i]}`,
      ),
      `sluice_gateway_event_latency_seconds_count ${counts[3]}`,
      'nodejs_gc_duration_seconds_bucket{le="0.1",kind="major"} 4',
    ].join('\n'),
  );

describe('bucketQuantile', () => {
  it('reads quantiles of the kept latency histogram as bucket upper bounds, over a delta', () => {
    const before = digest(scrape([10, 10, 10, 10]));
    const after = digest(scrape([10, 100, 109, 110]));
    expect(Object.keys(after).some((k) => k.startsWith('nodejs_gc_duration_seconds_bucket'))).toBe(false);
    const d = delta(before, after);
    // 100 new samples: 90 within 0.1 s, 9 more within 1 s, 1 beyond.
    expect(bucketQuantile(d, 'sluice_gateway_event_latency_seconds', 0.5)).toBe(0.1);
    expect(bucketQuantile(d, 'sluice_gateway_event_latency_seconds', 0.9)).toBe(0.1);
    expect(bucketQuantile(d, 'sluice_gateway_event_latency_seconds', 0.99)).toBe(1);
    expect(bucketQuantile(d, 'sluice_gateway_event_latency_seconds', 1)).toBe(Infinity);
    expect(bucketQuantile({}, 'sluice_gateway_event_latency_seconds', 0.5)).toBeNull();
  });
});
