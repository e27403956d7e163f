/**
 * Reads a service's `/metrics` (Prometheus text format) into samples, for the few figures the
 * load generator cannot see from outside: ingest publish counts, gateway auth query counts.
 */
import { request } from 'node:http';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]!] = l[2]!;
    const value = Number(m[3]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sum of every sample of `name` whose labels include `labels`. */
export function metricSum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

export function hasMetric(samples: Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

export function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export async function scrape(url: string): Promise<Sample[]> {
  const r = await httpGet(url);
  if (r.status !== 200) throw new Error(`GET ${url} answered ${r.status}`);
  return parseMetrics(r.body);
}

/** Histograms whose buckets the results keep: the services' own latency, from their side. */
const KEPT_BUCKETS = /^(sluice_gateway_event_latency_seconds|sluice_ingest_publish_latency_seconds)_bucket$/;

/**
 * The `sluice_*`, Mastodon-named and process figures of a scrape, one entry per label set
 * (`name{a="b"}` → value), for the results file; histogram buckets left out but for the
 * services' latency histograms ({@link bucketQuantile} reads them).
 */
export function digest(samples: Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name.endsWith('_bucket') && !KEPT_BUCKETS.test(s.name)) continue;
    if (
      !/^(sluice_|connected_|redis_|messages_sent_total|process_cpu_seconds_total|process_resident_memory_bytes|nodejs_heap_size_used_bytes|nodejs_eventloop_lag_p99_seconds)/.test(
        s.name,
      )
    )
      continue;
    const l = Object.entries(s.labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    out[l ? `${s.name}{${l}}` : s.name] = s.value;
  }
  return out;
}

/**
 * The `q` quantile of a Prometheus histogram held in a digest (or a delta of two), as the upper
 * bound of the bucket it falls in (`Infinity` past the last bound); null when it has no samples.
 */
export function bucketQuantile(d: Record<string, number>, name: string, q: number): number | null {
  const buckets: { le: number; count: number }[] = [];
  const prefix = `${name}_bucket{`;
  for (const [k, v] of Object.entries(d)) {
    if (!k.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(k)?.[1];
    if (le !== undefined) buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  return buckets.find((b) => b.count >= q * total)?.le ?? Infinity;
}

/** Per-name differences `after − before` over the keys of `after` (counters between two scrapes). */
export function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = Math.round(d * 1000) / 1000;
  }
  return out;
}
