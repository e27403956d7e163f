/**
 * The targets of issue 5 for the client scenarios, evaluated on a run's figures. Informational:
 * they are reported, never turned into the exit status (smoke.sh checks loss itself).
 */
import type { PhaseStats } from '../measure/proc-sampler.js';
import type { LoadScenario } from './catalog.js';
import type { Check } from './context.js';

export interface LoadFigures {
  clients: number;
  open: number;
  allConnected: boolean;
  /** Lost events, clients that never connected included. */
  lost: number;
  duplicates: number;
  latencyP99: number;
  connectP99: number;
  /** Process statistics of the measured phase, by process name. */
  gateways: Record<string, PhaseStats>;
  kbPerConnection: number | null;
  tokenQueries: number | null;
}

export function loadChecks(sc: LoadScenario, f: LoadFigures): Check[] {
  const checks: Check[] = [];
  const check = (what: string, value: number | string, limit: string, met: boolean) =>
    checks.push({ what, value, limit, met });
  if (sc.rate > 0) {
    check('events lost (incl. clients that never connected)', f.lost, '= 0', f.lost === 0);
    check('duplicates', f.duplicates, '= 0', f.duplicates === 0);
  }
  const gw = f.gateways['gateway-1'];
  switch (sc.name) {
    case 't1': {
      check('latency p99 ms', f.latencyP99, '≤ 50', f.latencyP99 <= 50);
      const cpu = gw?.cpuAvgPct ?? Number.NaN;
      check('gateway CPU % of a core (publish phase)', cpu, '≤ 15', cpu <= 15);
      break;
    }
    case 't2': {
      check('latency p99 ms', f.latencyP99, '≤ 100', f.latencyP99 <= 100);
      const rss = gw?.rssMaxMb ?? Number.NaN;
      check('gateway RSS MB', rss, '≤ 400', rss <= 400);
      break;
    }
    case 't3': {
      const kb = f.kbPerConnection;
      check('gateway RSS KB per connection above baseline', kb ?? 'n/a', '≤ 10', kb !== null && kb <= 10);
      check('connections held', f.open, `= ${sc.clients}`, f.open >= sc.clients);
      break;
    }
    case 't4': {
      check('clients connected', f.open, `= ${f.clients}`, f.allConnected);
      check('connect p99 ms', f.connectP99, '≤ 1000', f.connectP99 <= 1000);
      const q = f.tokenQueries ?? Number.NaN;
      check('token queries', q, '≤ 100', q <= 100);
      break;
    }
    case 't6':
      for (const [name, s] of Object.entries(f.gateways)) {
        if (name.startsWith('gateway-'))
          check(`${name} CPU % (compare with t1)`, s.cpuAvgPct, '≈ t1 / 2', true);
      }
      break;
  }
  return checks;
}
