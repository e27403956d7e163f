/**
 * What a load scenario reads from the services themselves: their /metrics (digested), the
 * token-query figures among them, and a process's RSS averaged over a few seconds.
 */
import type { ProcSampler } from '../measure/proc-sampler.js';
import { digest, scrape } from '../measure/prometheus.js';
import { sleep } from './context.js';
import type { Stack } from './stack.js';

export async function serviceDigests(stack: Stack): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const s of [...stack.gateways, ...stack.ingests]) {
    try {
      out[s.name] = digest(await scrape(`${s.url}/metrics`));
    } catch (err) {
      out[s.name] = { scrape_error: 1 };
      void err;
    }
  }
  return out;
}

/** Auth-query figures from a gateway's metrics: any counter whose name mentions auth. */
export function authFigures(d: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(d).filter(([k]) => /auth|token/i.test(k)));
}

export function pickAuthQueries(d: Record<string, number>): { value: number; source: string } | null {
  const names = Object.keys(d);
  const exact = names.find((k) => k.startsWith('sluice_gateway_auth_queries_total'));
  if (exact) return { value: d[exact]!, source: exact };
  const batch = names.find((k) => /auth.*(batch|quer).*_count$/.test(k));
  if (batch) return { value: d[batch]!, source: batch };
  const anyQuery = names.find((k) => /auth.*quer.*_total/.test(k));
  if (anyQuery) return { value: d[anyQuery]!, source: anyQuery };
  return null;
}

export async function averageRssKb(sampler: ProcSampler, pid: number, samples = 3): Promise<number> {
  let sum = 0;
  for (let i = 0; i < samples; i++) {
    sum += sampler.rssKb(pid);
    if (i < samples - 1) await sleep(1000);
  }
  return sum / samples;
}
