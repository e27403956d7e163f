/**
 * The scenarios of issue 5 (targets 1–6) plus `smoke`, as plain parameter sets. Every value can
 * be overridden on the command line (run.ts --help).
 */
import type { StreamName, Transport } from '../clients/protocol.js';

export interface LoadScenario {
  kind: 'load';
  name: string;
  description: string;
  /** What the issue asks of it, for the human line. */
  target: string;
  clients: number;
  /** Connections opened per second. */
  connectRate: number;
  gateways: number;
  /** Statuses per second (each is several Redis messages, see README). */
  rate: number;
  durationS: number;
  streams: Partial<Record<StreamName, number>>;
  transports: Partial<Record<Transport, number>>;
  /** Share of `user` readers each status is pushed to (home fan-out), capped by homeFanoutMax. */
  homeFanoutShare: number;
  homeFanoutMax: number;
  mediaShare: number;
  warmupTimeoutS: number;
  drainS: number;
  /** Seconds to hold the connections idle before measuring (t3). */
  idleS: number;
  measureRssPerConnection: boolean;
  measureAuthQueries: boolean;
  connectTimeoutMs: number;
  /** 0: choose from the client count. */
  workers: number;
}

export interface IngestScenario {
  kind: 'ingest';
  name: string;
  description: string;
  target: string;
  replicas: number;
  /** Before phase 1: publishing at the latency rate, reported apart (right after start). */
  coldStartS: number;
  /** Phase 1: latency Redis → `<prefix>.ev.>` at this rate (messages/s). */
  latencyRate: number;
  latencyS: number;
  /** Phase 2: offered Redis messages/s. */
  rate: number;
  durationS: number;
  /** Channels messages are spread over: this many home timelines, plus the shared ones. */
  homeTimelines: number;
  mediaShare: number;
  drainS: number;
}

export type Scenario = LoadScenario | IngestScenario;

const EVEN_STREAMS = { user: 1, public: 1, 'public:local': 1, hashtag: 1 };
const EVEN_TRANSPORTS = { 'ws-query': 1, 'ws-subscribe': 1, sse: 1 };

const load = (
  o: Partial<LoadScenario> & Pick<LoadScenario, 'name' | 'description' | 'target'>,
): LoadScenario => ({
  kind: 'load',
  clients: 2000,
  connectRate: 500,
  gateways: 1,
  rate: 10,
  durationS: 30,
  streams: EVEN_STREAMS,
  transports: EVEN_TRANSPORTS,
  homeFanoutShare: 0.1,
  homeFanoutMax: 100,
  mediaShare: 0.3,
  warmupTimeoutS: 30,
  drainS: 10,
  idleS: 0,
  measureRssPerConnection: false,
  measureAuthQueries: false,
  connectTimeoutMs: 15_000,
  workers: 0,
  ...o,
});

export const SCENARIOS: Record<string, Scenario> = {
  smoke: load({
    name: 'smoke',
    description: 'CI smoke: 50 clients (every transport × stream), 5 statuses/s for 3 s',
    target: 'nothing lost (correctness only, no timing)',
    clients: 50,
    connectRate: 100,
    rate: 5,
    durationS: 3,
    warmupTimeoutS: 20,
    drainS: 5,
  }),
  t1: load({
    name: 't1',
    description: '2,000 connections at 10 statuses/s for 30 s, one gateway',
    target: 'nothing lost; p99 ≤ 50 ms; gateway CPU ≤ 15% of a core',
    clients: 2000,
    connectRate: 500,
    rate: 10,
    durationS: 30,
  }),
  t2: load({
    name: 't2',
    description: '10,000 connections at 20 statuses/s for 30 s, one gateway',
    target: 'nothing lost; p99 ≤ 100 ms; gateway RSS ≤ 400 MB',
    clients: 10_000,
    connectRate: 1000,
    rate: 20,
    durationS: 30,
    warmupTimeoutS: 60,
  }),
  t3: load({
    name: 't3',
    description: 'idle capacity: 20,000 `user` connections (half WebSocket, half SSE) on one gateway',
    target: 'RSS ≤ 10 KB per connection above baseline (Mastodon ~15 KB)',
    clients: 20_000,
    connectRate: 1000,
    rate: 0,
    durationS: 0,
    streams: { user: 1 },
    transports: { 'ws-query': 1, 'ws-subscribe': 1, sse: 2 },
    warmupTimeoutS: 60,
    idleS: 15,
    measureRssPerConnection: true,
  }),
  t4: load({
    name: 't4',
    description: 'reconnect storm: 5,000 clients connecting within 5 s, then 2 statuses/s for 5 s',
    target: 'all connect; connect p99 ≤ 1 s; ≤ 100 token queries',
    clients: 5000,
    connectRate: 1000,
    rate: 2,
    durationS: 5,
    measureAuthQueries: true,
  }),
  t5: {
    kind: 'ingest',
    name: 't5',
    description:
      'ingest only, two replicas: latency Redis → ev subject at 1,000 msgs/s, then 20,000 msgs/s offered for 10 s',
    target: '≥ 20,000 msgs/s per replica; added latency p99 ≤ 5 ms at 1,000 msgs/s',
    replicas: 2,
    coldStartS: 5,
    latencyRate: 1000,
    latencyS: 10,
    rate: 20_000,
    durationS: 10,
    homeTimelines: 2000,
    mediaShare: 0.3,
    drainS: 30,
  },
  t6: load({
    name: 't6',
    description: 'scale-out: t1 load (2,000 connections, 10 statuses/s, 30 s) over 2 gateways',
    target: 'each gateway ~half of t1 CPU; every client gets every event once',
    clients: 2000,
    connectRate: 500,
    gateways: 2,
    rate: 10,
    durationS: 30,
  }),
};
