/** A small parser for the Prometheus text exposition format (what prom-client serves on /metrics). */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export class Metrics {
  /** Metric family name → type (`counter`, `gauge`, `histogram`, …). */
  readonly types = new Map<string, string>();
  readonly samples: Sample[] = [];

  /** Sum of the samples called `name` whose labels include `labels`. Throws if no such metric is exported. */
  value(name: string, labels: Record<string, string> = {}): number {
    if (!this.has(name)) {
      const known = [...this.types.keys()].filter((k) => k.startsWith('sluice_') || k.startsWith('redis_'));
      throw new Error(`metric ${name} is not exported (exported: ${known.join(', ') || 'none'})`);
    }
    let sum = 0;
    for (const s of this.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  /** True when the metric (or the family a `_bucket`/`_sum`/`_count` sample belongs to) is exported. */
  has(name: string): boolean {
    return (
      this.types.has(name) ||
      this.types.has(name.replace(/_(bucket|sum|count)$/, '')) ||
      this.samples.some((s) => s.name === name)
    );
  }

  /** `name{a="b"}` → value, for debugging output. */
  toMap(): Map<string, number> {
    const m = new Map<string, number>();
    for (const s of this.samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',');
      m.set(labels ? `${s.name}{${labels}}` : s.name, s.value);
    }
    return m;
  }
}

export function parseMetrics(text: string): Metrics {
  const m = new Metrics();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const t = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (t) m.types.set(t[1]!, t[2]!);
      continue;
    }
    const s = parseSample(line);
    if (s) m.samples.push(s);
  }
  return m;
}

function parseSample(line: string): Sample | null {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) return null;
  const name = nameMatch[0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const key = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (!key) return null;
      i += key[0].length;
      if (line[i] !== '=' || line[i + 1] !== '"') return null;
      i += 2;
      let value = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\') {
          const next = line[i + 1];
          value += next === 'n' ? '\n' : (next ?? '');
          i += 2;
        } else {
          value += line[i];
          i++;
        }
      }
      i++;
      labels[key[0]] = value;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const v = rest[0];
  if (v === undefined) return null;
  const value = v === '+Inf' ? Number.POSITIVE_INFINITY : v === '-Inf' ? Number.NEGATIVE_INFINITY : Number(v);
  return { name, labels, value };
}
