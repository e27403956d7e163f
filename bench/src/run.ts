/**
 * Sluice benchmark runner: `node bench/dist/run.js <scenario> [options]` (bench/README.md).
 * Prints the result as JSON, then one human line; writes bench/results/<scenario>-<date>.json.
 * Exit status: 0 done; 1 the generator failed (or ran out of time); 2 `--check-lost` and
 * events were lost.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { StreamName, Transport } from './clients/protocol.js';
import { loadBenchEnv, REPO_ROOT } from './env.js';
import { removeRun, removeStale } from './fixtures/fixtures.js';
import { readMachine } from './measure/proc-sampler.js';
import { commit, machine, writeResult } from './report.js';
import { type IngestScenario, type LoadScenario, SCENARIOS, type Scenario } from './scenarios/catalog.js';
import type { RunContext, ScenarioOutcome } from './scenarios/context.js';
import { runIngest } from './scenarios/ingest.js';
import { runLoad } from './scenarios/load.js';
import { maxDrainMs } from './scenarios/load-specs.js';
import { serviceBuilt, serviceMain } from './services/processes.js';

const USAGE = `usage: node bench/dist/run.js <scenario|list|cleanup> [options]

scenarios: ${Object.keys(SCENARIOS).join(', ')}   (list: describe them)

options (override the scenario's values):
  --clients N          client connections                 --connect-rate N   connections opened per second
  --rate N             statuses/s (t5: Redis messages/s)  --duration S       seconds of publishing
  --gateways N         gateway processes                  --workers N        client worker processes
  --streams SPEC       e.g. user=2,public=1,public:local=1,hashtag=1
  --transports SPEC    e.g. ws-query=1,ws-subscribe=1,sse=2
  --warmup-timeout S   --drain S   --idle S
  --latency-rate N     t5 latency phase msgs/s            --latency-duration S
  --replicas N         t5 ingest replicas
  --profile            run the services with --cpu-prof (profiles in bench/results/tmp/<run>/)
  --check-lost         exit 2 if any event was lost (smoke.sh)
  --no-write           do not write bench/results/<scenario>-<date>.json
  --out DIR            write the results file into DIR instead of bench/results
  --service-env K=V    extra environment for the services (repeatable), e.g. SLUICE_STREAM_MAX_MSGS=5000
  --node-arg FLAG      extra node flag for the services (repeatable), e.g. --node-arg=--trace-gc
  --wait-quiet S       first wait up to S s until the machine is idle (< 25% of one core busy over 3 s)
  --gateway-main PATH  --ingest-main PATH   run another build (e.g. the base branch's dist/main.js)
cleanup: remove the Postgres rows of earlier runs that were killed before cleaning up`;

function weights<T extends string>(spec: string, allowed: readonly string[]): Partial<Record<T, number>> {
  const out: Partial<Record<T, number>> = {};
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=');
    if (!k || !allowed.includes(k))
      throw new Error(`unknown name ${JSON.stringify(k)} in ${spec}; one of ${allowed.join(', ')}`);
    const w = Number(v ?? 1);
    if (!(w >= 0)) throw new Error(`bad weight in ${spec}`);
    out[k as T] = w;
  }
  return out;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) throw new Error(`--${name} wants a non-negative number, got ${v}`);
  return x;
}

/** Upper bound of a run's duration: past it the runner gives up (exit 1). */
function budgetMs(sc: Scenario): number {
  if (sc.kind === 'ingest') return (150 + sc.coldStartS + sc.latencyS + sc.durationS + sc.drainS + 30) * 1000;
  const ramp = sc.clients / Math.max(1, sc.connectRate) + sc.connectTimeoutMs / 1000 + 10;
  const auth = sc.measureAuthQueries ? 12 : 0;
  const rss = sc.measureRssPerConnection ? 10 : 0;
  return (180 + ramp + auth + rss + sc.warmupTimeoutS + sc.idleS + sc.durationS) * 1000 + maxDrainMs(sc);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      clients: { type: 'string' },
      'connect-rate': { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      gateways: { type: 'string' },
      workers: { type: 'string' },
      streams: { type: 'string' },
      transports: { type: 'string' },
      'warmup-timeout': { type: 'string' },
      drain: { type: 'string' },
      idle: { type: 'string' },
      'latency-rate': { type: 'string' },
      'latency-duration': { type: 'string' },
      replicas: { type: 'string' },
      profile: { type: 'boolean' },
      'check-lost': { type: 'boolean' },
      'no-write': { type: 'boolean' },
      out: { type: 'string' },
      'wait-quiet': { type: 'string' },
      'service-env': { type: 'string', multiple: true },
      'node-arg': { type: 'string', multiple: true },
      'gateway-main': { type: 'string' },
      'ingest-main': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const name = positionals[0];
  if (values.help || !name) {
    console.log(USAGE);
    return name || values.help ? 0 : 1;
  }
  const env = loadBenchEnv(process.env);
  if (name === 'list') {
    for (const s of Object.values(SCENARIOS))
      console.log(`${s.name.padEnd(6)} ${s.description}\n       target: ${s.target}`);
    return 0;
  }
  if (name === 'cleanup') {
    console.log(`removed ${await removeStale(env.databaseUrl)} bench accounts`);
    return 0;
  }
  const base = SCENARIOS[name];
  if (!base) throw new Error(`unknown scenario ${name}; one of ${Object.keys(SCENARIOS).join(', ')}`);

  let sc: Scenario;
  if (base.kind === 'load') {
    const o: LoadScenario = { ...base };
    o.clients = num(values.clients, 'clients') ?? o.clients;
    o.connectRate = num(values['connect-rate'], 'connect-rate') ?? o.connectRate;
    o.rate = num(values.rate, 'rate') ?? o.rate;
    o.durationS = num(values.duration, 'duration') ?? o.durationS;
    o.gateways = Math.max(1, num(values.gateways, 'gateways') ?? o.gateways);
    o.workers = num(values.workers, 'workers') ?? o.workers;
    o.warmupTimeoutS = num(values['warmup-timeout'], 'warmup-timeout') ?? o.warmupTimeoutS;
    o.drainS = num(values.drain, 'drain') ?? o.drainS;
    o.idleS = num(values.idle, 'idle') ?? o.idleS;
    if (values.streams)
      o.streams = weights<StreamName>(values.streams, ['user', 'public', 'public:local', 'hashtag']);
    if (values.transports)
      o.transports = weights<Transport>(values.transports, ['ws-query', 'ws-subscribe', 'sse']);
    sc = o;
  } else {
    const o: IngestScenario = { ...base };
    o.rate = num(values.rate, 'rate') ?? o.rate;
    o.durationS = num(values.duration, 'duration') ?? o.durationS;
    o.latencyRate = num(values['latency-rate'], 'latency-rate') ?? o.latencyRate;
    o.latencyS = num(values['latency-duration'], 'latency-duration') ?? o.latencyS;
    o.replicas = Math.max(1, num(values.replicas, 'replicas') ?? o.replicas);
    o.drainS = num(values.drain, 'drain') ?? o.drainS;
    sc = o;
  }
  const mains = {
    gateway: values['gateway-main'] ? resolve(values['gateway-main']) : serviceMain('gateway'),
    ingest: values['ingest-main'] ? resolve(values['ingest-main']) : serviceMain('ingest'),
  };
  for (const kind of sc.kind === 'ingest' ? (['ingest'] as const) : (['ingest', 'gateway'] as const)) {
    if (!serviceBuilt(mains[kind])) throw new Error(`${mains[kind]} is missing: run npm run build first`);
  }

  const run = randomBytes(4).toString('hex').slice(0, 6);
  const logDir = join(REPO_ROOT, 'bench', 'results', 'tmp', run);
  const t0 = Date.now();
  const log = (msg: string) =>
    console.error(`[bench ${sc.name} ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
  const ctx: RunContext = {
    env,
    run,
    logDir,
    nodeArgs: [
      ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${logDir}`] : []),
      ...(values['node-arg'] ?? []),
    ],
    log,
    mains,
    serviceEnv: Object.fromEntries(
      (values['service-env'] ?? []).map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new Error(`--service-env wants KEY=VALUE, got ${kv}`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    ),
  };
  log(`run ${run}: ${sc.description}; service logs in ${logDir}`);

  // How busy the machine was just before (other work skews every figure).
  const busyPct = async () => {
    const a = readMachine(100);
    await new Promise((r) => setTimeout(r, 3000));
    const b = readMachine(100);
    return a && b ? Math.round(((b.cpuSeconds - a.cpuSeconds) / 3) * 1000) / 10 : 0;
  };
  const quietLimit = Date.now() + (num(values['wait-quiet'], 'wait-quiet') ?? 0) * 1000;
  let busyBefore = await busyPct();
  while (busyBefore > 25 && Date.now() < quietLimit) {
    log(`machine busy (${busyBefore}% of one core, ${cpus().length} cores); waiting for it to be quiet`);
    await new Promise((r) => setTimeout(r, 5000));
    busyBefore = await busyPct();
  }
  const bail = (why: string) => {
    log(`giving up: ${why}; removing this run's fixtures`);
    const hard = setTimeout(() => process.exit(1), 5000);
    removeRun(env.databaseUrl, run)
      .catch(() => {})
      .finally(() => {
        clearTimeout(hard);
        process.exit(1);
      });
  };
  const deadline = setTimeout(
    () => bail(`time budget of ${Math.round(budgetMs(sc) / 1000)} s exceeded`),
    budgetMs(sc),
  );
  process.once('SIGINT', () => bail('interrupted'));
  process.once('SIGTERM', () => bail('terminated'));

  const started = new Date();
  const loadStart = loadavg();
  let outcome: ScenarioOutcome;
  try {
    outcome = sc.kind === 'ingest' ? await runIngest(sc, ctx) : await runLoad(sc, ctx);
  } finally {
    clearTimeout(deadline);
  }
  if (busyBefore > 25) {
    const w = outcome.result['warnings'];
    if (Array.isArray(w))
      w.push(`the machine was busy before the run (${busyBefore}% of one core): figures are skewed`);
  }
  const result = {
    ...outcome.result,
    date: started.toISOString(),
    commit: commit(),
    command: `node bench/dist/run.js ${process.argv.slice(2).join(' ')}`,
    services: mains,
    serviceEnv: ctx.serviceEnv,
    machine: machine(),
    machineBusyBeforePct: busyBefore,
    loadAverage: {
      start: loadStart.map((v) => Math.round(v * 100) / 100),
      end: loadavg().map((v) => Math.round(v * 100) / 100),
    },
    human: outcome.human,
  };
  if (!values['no-write']) log(`results: ${writeResult(sc.name, result, values.out)}`);
  console.log(JSON.stringify(result));
  console.log(outcome.human);
  if (values['check-lost'] && outcome.lost > 0) {
    console.error(`check-lost: ${outcome.lost} events lost`);
    return 2;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error)?.stack ?? err}`);
    process.exit(1);
  },
);
