/**
 * nats-server's own counters from its monitoring endpoint (`/varz`), read before and after a
 * run: a slow consumer (a subscriber the server dropped messages for) is invisible to Sluice's
 * metrics otherwise.
 */
import { httpGet } from './prometheus.js';

const FIELDS = ['slow_consumers', 'in_msgs', 'out_msgs', 'in_bytes', 'out_bytes'] as const;
export type Varz = Record<(typeof FIELDS)[number], number>;

export async function natsVarz(monitorUrl: string): Promise<Varz | null> {
  try {
    const r = await httpGet(`${monitorUrl.replace(/\/$/, '')}/varz`, 2000);
    if (r.status !== 200) return null;
    const v = JSON.parse(r.body) as Record<string, unknown>;
    return Object.fromEntries(FIELDS.map((f) => [f, Number(v[f] ?? 0)])) as Varz;
  } catch {
    return null;
  }
}

/** after − before for each counter, or null when either read failed (or the server restarted). */
export function varzDelta(before: Varz | null, after: Varz | null): Varz | null {
  if (!before || !after || after.in_msgs < before.in_msgs) return null;
  return Object.fromEntries(FIELDS.map((f) => [f, after[f] - before[f]])) as Varz;
}
