/**
 * Client scenarios (smoke, t1–t4, t6): fixtures → ingest + gateways → clients ramped at a set
 * rate → warm-up (until every client has provably received a payload on its stream) → optional
 * idle hold → publish R statuses/s for T s → drain → per-client accounting → teardown.
 */
import { Redis } from 'ioredis';
import { ClientPool } from '../clients/pool.js';
import type { ClientSpec } from '../clients/protocol.js';
import { createFixtures, databaseTransactions, removeFixtures } from '../fixtures/fixtures.js';
import { LoopDelayMonitor } from '../measure/loop-delay.js';
import { natsVarz, varzDelta } from '../measure/nats-monitor.js';
import { openFilesLimit, ProcSampler } from '../measure/proc-sampler.js';
import { bucketQuantile, delta } from '../measure/prometheus.js';
import { Publisher } from '../publish/publisher.js';
import { markerPrefix } from '../publish/status.js';
import { n, round } from '../report.js';
import type { LoadScenario } from './catalog.js';
import {
  disturbances,
  onRedisError,
  type RunContext,
  removeNamespaceKeys,
  type ScenarioOutcome,
  sleep,
} from './context.js';
import { loadChecks } from './load-checks.js';
import { mergeResults } from './load-merge.js';
import { buildSpecs, maxDrainMs, recipientsOf, TAGS } from './load-specs.js';
import { authFigures, averageRssKb, pickAuthQueries, serviceDigests } from './service-probes.js';
import { type Stack, startStack } from './stack.js';

/** Per-gateway file descriptors kept free for NATS, Postgres, logs and libuv. */
const FD_RESERVE = 300;
/** Home-timeline warm-up messages per round (about 6 MB). */
const WARMUP_BATCH = 2000;

export async function runLoad(sc: LoadScenario, ctx: RunContext): Promise<ScenarioOutcome> {
  const { env, run, log } = ctx;
  const warnings: string[] = [];
  const fdLimit = openFilesLimit();
  let clients = sc.clients;
  const perGatewayMax = fdLimit - FD_RESERVE;
  if (Math.ceil(clients / sc.gateways) > perGatewayMax) {
    clients = perGatewayMax * sc.gateways;
    warnings.push(
      `open-files limit ${fdLimit} (ulimit -n; the hard limit cannot be raised here) caps one gateway at ` +
        `${perGatewayMax} connections: running ${clients} clients instead of ${sc.clients}`,
    );
  }
  const workers = Math.max(
    sc.workers || (clients <= 2500 ? 1 : 2),
    Math.ceil(clients / (fdLimit - FD_RESERVE)),
  );
  const loop = new LoopDelayMonitor();
  const sampler = new ProcSampler();
  sampler.add('machine', 0);
  sampler.add('bench-coordinator', process.pid);
  sampler.startSampling();
  const t0 = Date.now();
  const phaseMs: Record<string, number> = {};
  let phaseStart = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    phaseMs[name] = now - phaseStart;
    phaseStart = now;
    sampler.mark(name);
    log(`phase ${name}`);
  };

  log(`fixtures: ${clients} users`);
  const fx = await createFixtures(env.databaseUrl, run, clients);
  warnings.push(...fx.warnings);
  let stack: Stack | null = null;
  let redis: Redis | null = null;
  const pool = new ClientPool();
  let keyTimer: NodeJS.Timeout | null = null;
  try {
    phase('fixtures');
    stack = await startStack(
      env,
      {
        run,
        ingests: 1,
        gateways: sc.gateways,
        logDir: ctx.logDir,
        nodeArgs: ctx.nodeArgs,
        extraEnv: ctx.serviceEnv,
        mains: ctx.mains,
      },
      sampler,
    );
    phase('start');
    redis = new Redis(env.redisUrl, { connectionName: `sluice-bench-${run}`, maxRetriesPerRequest: 3 });
    redis.on('error', onRedisError(log));
    const recipients = recipientsOf(sc, clients, fx);
    const publisher = new Publisher(redis, {
      run,
      prefix: `${stack.namespace}:`,
      authors: fx.authors,
      tags: TAGS,
      recipients,
      homeFanout: Math.min(sc.homeFanoutMax, Math.ceil(recipients.length * sc.homeFanoutShare)),
      mediaShare: sc.mediaShare,
    });
    const { specs, recipientOf } = buildSpecs(sc, clients, fx, stack, publisher);

    // Baselines.
    const rssBaseKb: Record<string, number> = {};
    if (sc.measureRssPerConnection) {
      await sleep(2000);
      for (const g of stack.gateways) rssBaseKb[g.name] = await averageRssKb(sampler, g.pid);
    }
    const metricsBefore = await serviceDigests(stack);
    const varzBefore = await natsVarz(env.natsMonitorUrl);
    const xactBefore = sc.measureAuthQueries ? await databaseTransactions(env.databaseUrl) : 0;

    const clockOffsets = await pool.start(
      specs,
      workers,
      markerPrefix(run),
      sc.connectRate,
      sc.connectTimeoutMs,
    );
    for (const [k, pid] of pool.pids.entries()) sampler.add(`bench-worker-${k + 1}`, pid);
    phase('workers');
    await pool.connect();
    const rampLimit = Date.now() + (clients / sc.connectRate) * 1000 + sc.connectTimeoutMs + 10_000;
    let st = await pool.status();
    let lastLog = 0;
    while (!(st.rampDone && st.pending === 0) && Date.now() < rampLimit) {
      await sleep(250);
      st = await pool.status();
      if (Date.now() - lastLog > 2000) {
        lastLog = Date.now();
        log(`ramp: ${st.open} open, ${st.failed} failed, ${st.pending} pending`);
      }
    }
    phase('ramp');
    log(`connected: ${st.open} open, ${st.failed} failed`);

    let authQueries: Record<string, unknown> | null = null;
    if (sc.measureAuthQueries) {
      // pg_stat_database is flushed by each backend at most every 10 s while idle.
      await sleep(11_000);
      const xactAfter = await databaseTransactions(env.databaseUrl);
      const after = await serviceDigests(stack);
      const perGateway: Record<string, unknown> = {};
      let fromMetrics: number | null = null;
      const sources: string[] = [];
      for (const g of stack.gateways) {
        const d = delta(metricsBefore[g.name] ?? {}, after[g.name] ?? {});
        perGateway[g.name] = authFigures(d);
        const pick = pickAuthQueries(d);
        if (pick) {
          fromMetrics = (fromMetrics ?? 0) + pick.value;
          sources.push(pick.source);
        }
      }
      const xacts = xactAfter - xactBefore - 1;
      authQueries = {
        value: fromMetrics ?? xacts,
        method:
          fromMetrics !== null
            ? `gateway /metrics delta of ${[...new Set(sources)].join(', ')} over the ramp`
            : 'pg_stat_database xact_commit+xact_rollback delta over the ramp (+11 s for stats flush): an upper ' +
              'bound, it counts every transaction in the database, other sessions included',
        gatewayMetricsDelta: perGateway,
        databaseTransactions: xacts,
      };
      phase('auth-stats');
    }

    // Warm-up: publish to every channel a client still waits on, until each has received one.
    const warmLimit = Date.now() + sc.warmupTimeoutS * 1000;
    let rounds = 0;
    let notWarmed: number[] = [];
    let keys = 0;
    for (;;) {
      keys = await publisher.refreshKeys();
      notWarmed = await pool.notWarmed();
      if (notWarmed.length === 0 || Date.now() > warmLimit) break;
      const channels = new Set<string>();
      const rs: number[] = [];
      for (const id of notWarmed) {
        const s = specs[id]!;
        if (s.stream === 'user') rs.push(s.recipient);
        else {
          const k = s.tag !== undefined ? TAGS.findIndex((t) => t.toLowerCase() === s.tag!.toLowerCase()) : 0;
          channels.add(publisher.sharedChannel(s.stream, k).channel);
        }
      }
      // At most WARMUP_BATCH home timelines per round: a burst of ~3 KB messages larger than
      // Redis's pub/sub output limit (32 MB) would get ingest disconnected.
      publisher.publishWarmup(channels, rs.slice(0, WARMUP_BATCH));
      await publisher.settle();
      rounds++;
      if (rounds % 4 === 0)
        log(`warm-up: ${notWarmed.length} clients waiting; ${keys}/${recipients.length} subscribed: keys`);
      await sleep(rounds < 4 ? 500 : 1000);
    }
    phase('warmup');
    if (notWarmed.length > 0) {
      warnings.push(
        `${notWarmed.length} open clients received no warm-up payload within ${sc.warmupTimeoutS} s`,
      );
    }

    if (sc.idleS > 0) {
      await sleep(sc.idleS * 1000);
      phase('idle');
    }
    let rssPerConnection: Record<string, unknown> | null = null;
    if (sc.measureRssPerConnection) {
      const per: Record<string, unknown> = {};
      const open = (await pool.status()).open;
      for (const g of stack.gateways) {
        const after = await averageRssKb(sampler, g.pid);
        const base = rssBaseKb[g.name] ?? 0;
        const conns = open / stack.gateways.length;
        per[g.name] = {
          baselineMb: round(base / 1024),
          withConnectionsMb: round(after / 1024),
          connections: conns,
          kbPerConnection: conns > 0 && after > 0 ? round((after - base) / conns, 2) : null,
        };
      }
      const heap = await serviceDigests(stack);
      for (const g of stack.gateways) {
        const h0 = metricsBefore[g.name]?.['nodejs_heap_size_used_bytes'];
        const h1 = heap[g.name]?.['nodejs_heap_size_used_bytes'];
        if (h0 !== undefined && h1 !== undefined && open > 0) {
          (per[g.name] as Record<string, number>)['heapKbPerConnection'] = round(
            (h1 - h0) / 1024 / (open / stack.gateways.length),
            2,
          );
        }
      }
      rssPerConnection = per;
    }

    // Publishing.
    const measurePublish = sc.rate > 0 && sc.durationS > 0;
    const openIds = await pool.publishStart(measurePublish);
    if (measurePublish) loop.reset();
    let published = { done: 0, elapsedMs: 0 };
    // The gateways' latency histograms count from here: warm-up events may have waited in a
    // starting ingest's join delay and are not what the publishing phase measures.
    let metricsAtPublish: Record<string, Record<string, number>> = {};
    if (measurePublish) {
      metricsAtPublish = await serviceDigests(stack);
      keyTimer = setInterval(() => void publisher.refreshKeys().catch(() => {}), 1000);
      phase('pre-publish');
      published = await publisher.paced(sc.rate, sc.durationS * 1000, () => publisher.publishStatus());
      clearInterval(keyTimer);
      keyTimer = null;
      phase('publish');
    }
    const coordinatorLoop = loop.read();

    // Expected totals, for the drain.
    const masks = Uint32Array.from(publisher.masks);
    const countByBit = new Map<number, number>();
    const expectedOf = (s: ClientSpec): number => {
      if (s.stream === 'user') return publisher.userSeqs.get(s.recipient)?.length ?? 0;
      let c = countByBit.get(s.bit);
      if (c === undefined) {
        c = 0;
        for (let i = 1; i < masks.length; i++) if (masks[i]! & s.bit) c++;
        countByBit.set(s.bit, c);
      }
      return c;
    };
    let expectedTotal = 0;
    for (const id of openIds) expectedTotal += expectedOf(specs[id]!);
    // Drain: wait while deliveries still arrive (late is not lost), giving up after `drainS`
    // without progress or maxDrain(sc) in all.
    const drainStart = Date.now();
    let lastProgress = drainStart;
    st = await pool.status();
    let lastCount = st.receivedMain;
    while (
      sc.rate > 0 &&
      st.receivedMain < expectedTotal &&
      Date.now() - lastProgress < sc.drainS * 1000 &&
      Date.now() - drainStart < maxDrainMs(sc)
    ) {
      await sleep(250);
      st = await pool.status();
      if (st.receivedMain > lastCount) {
        lastCount = st.receivedMain;
        lastProgress = Date.now();
      }
    }
    phase('drain');

    const userSeqsByClient = new Map<number, Uint32Array>();
    for (const [r, seqs] of publisher.userSeqs) {
      const id = recipientOf.get(r);
      if (id !== undefined) userSeqsByClient.set(id, Uint32Array.from(seqs));
    }
    const results = await pool.finish(masks, userSeqsByClient);
    const metricsAfter = await serviceDigests(stack);
    const nats = varzDelta(varzBefore, await natsVarz(env.natsMonitorUrl));
    const m = mergeResults(results);
    phase('collect');

    // Teardown before the process stats are summarised (the last samples close the phase).
    await pool.close();
    await stack.stop();
    stack = null;
    sampler.stop();

    const statusAvgBytes = publisher.counters.statuses
      ? Math.round(publisher.counters.bytes / Math.max(1, publisher.counters.messages))
      : 0;
    const publishStats = sampler.phaseStats('pre-publish', 'publish');
    const holdStats = sampler.phaseStats(sc.idleS > 0 ? 'warmup' : 'ramp', sc.idleS > 0 ? 'idle' : 'warmup');
    const rampStats = sampler.phaseStats('workers', 'ramp');
    const lostInclUnconnected = m.t.lost + m.t.expectedUnconnected;
    const latencyMs = m.latency.summary(1000);
    const connectMs = m.connect.summary(1000);
    const generatorLoops = [coordinatorLoop, ...m.loops];
    const benchCpu = Object.entries(sc.rate > 0 ? publishStats : holdStats)
      .filter(([k]) => k.startsWith('bench-'))
      .map(([, v]) => v.cpuAvgPct);
    const saturated = generatorLoops.some((l) => l.p99 > 100) || benchCpu.some((c) => c > 90);
    const stall = Math.max(...generatorLoops.map((l) => l.max));
    if (stall > 1000) {
      warnings.push(
        `a generator event loop stalled for ${Math.round(stall)} ms at some point: connect times and latencies around it include the stall`,
      );
    }
    if (saturated)
      warnings.push(
        `the load generator was saturated (event-loop p99 > 100 ms or CPU > 90%; machine CPU ` +
          `${(sc.rate > 0 ? publishStats : holdStats)['machine']?.cpuAvgPct ?? '?'}% of one core): latency figures include its delay`,
      );
    const serviceDeltas = Object.fromEntries(
      Object.keys(metricsAfter).map((k) => [k, delta(metricsBefore[k] ?? {}, metricsAfter[k] ?? {})]),
    );
    warnings.push(...disturbances(sampler.allSeries(), serviceDeltas));
    if (nats && nats.slow_consumers > 0) {
      warnings.push(
        `nats-server reported ${nats.slow_consumers} slow consumer(s) during the run: it dropped messages for a subscriber`,
      );
    }
    // What the services say they dropped or cut off (filter timeouts, slow clients, full buffers).
    const serverDrops: Record<string, number> = {};
    for (const [svc, d] of Object.entries(serviceDeltas)) {
      for (const [k, v] of Object.entries(d)) {
        if (/dropped|slow_client|disconnects/.test(k) && v > 0) serverDrops[`${svc} ${k}`] = v;
      }
    }
    if (m.t.otherMessages > 0)
      warnings.push(`${m.t.otherMessages} frames without a bench marker (see otherSamples)`);

    // The gateways' own view over the publishing phase (ingest receiving the Redis message → the
    // gateway writing the frame to its sockets; bucket upper bounds): with a saturated generator
    // this tells the server's part of the latency from the clients'.
    const serverLatencyMs: Record<string, { p50: number | null; p99: number | null }> = {};
    for (const [svc, after] of Object.entries(metricsAfter)) {
      const d = delta(metricsAtPublish[svc] ?? {}, after);
      const q = (x: number) => {
        const v = bucketQuantile(d, 'sluice_gateway_event_latency_seconds', x);
        return v === null ? null : v * 1000;
      };
      if (svc.startsWith('gateway-') && q(0.5) !== null) serverLatencyMs[svc] = { p50: q(0.5), p99: q(0.99) };
    }

    const gwStats = sc.rate > 0 ? publishStats : holdStats;
    const checks = loadChecks(sc, {
      clients,
      open: st.open,
      allConnected: st.open + st.closedAfterOpen >= clients && Object.keys(m.failures).length === 0,
      lost: lostInclUnconnected,
      duplicates: m.t.duplicates,
      latencyP99: latencyMs.p99,
      connectP99: connectMs.p99,
      gateways: gwStats,
      kbPerConnection:
        (rssPerConnection?.['gateway-1'] as { kbPerConnection: number | null } | undefined)
          ?.kbPerConnection ?? null,
      tokenQueries: authQueries ? Number(authQueries['value']) : null,
    });

    const groupsOut = Object.fromEntries(
      Object.entries(m.groups).map(([k, g]) => [
        k,
        { ...g, latency: undefined, latencyMs: g.latency.summary(1000) },
      ]),
    );
    const result = {
      scenario: sc.name,
      description: sc.description,
      target: sc.target,
      params: { ...sc, clients, workers },
      run,
      durationS: round((Date.now() - t0) / 1000),
      phasesMs: phaseMs,
      stack: {
        prefix: `bench_${run}`,
        stream: `BENCH_${run.toUpperCase()}`,
        namespace: `bench_${run}`,
        gateways: sc.gateways,
        ingests: 1,
      },
      connections: {
        attempted: clients,
        open: st.open,
        failed: st.failed,
        closedAfterOpen: st.closedAfterOpen,
        failuresByReason: m.failures,
        closesByReason: m.closes,
        connectMs,
        connectMsByTransport: Object.fromEntries(
          Object.entries(m.connectByTransport).map(([k, h]) => [k, h.summary(1000)]),
        ),
        rampSeconds: round((phaseMs['ramp'] ?? 0) / 1000, 2),
        warmupSeconds: round((phaseMs['warmup'] ?? 0) / 1000, 2),
        notWarmed: notWarmed.length,
        subscribedKeys: keys,
        userStreamClients: recipients.length,
      },
      publishing: {
        statusesPerSecond: sc.rate,
        seconds: sc.durationS,
        statuses: publisher.counters.statuses,
        achievedStatusesPerSecond: published.elapsedMs
          ? round((published.done * 1000) / published.elapsedMs, 2)
          : 0,
        redisMessages: publisher.counters.messages - publisher.counters.warmupMessages,
        warmupMessages: publisher.counters.warmupMessages,
        averageMessageBytes: statusAvgBytes,
        homeFanout: Math.min(sc.homeFanoutMax, Math.ceil(recipients.length * sc.homeFanoutShare)),
        homePushes: publisher.counters.homePushes,
        notifications: publisher.counters.notifications,
        homeSkippedNoKey: publisher.counters.homeSkippedNoKey,
        notificationsSkippedNoKey: publisher.counters.notificationsSkippedNoKey,
        redisErrors: publisher.counters.errors,
        lastRedisError: publisher.lastError,
      },
      delivery: {
        ...m.t,
        lostIncludingUnconnected: lostInclUnconnected,
        drainSeconds: round((phaseMs['drain'] ?? 0) / 1000, 2),
        serverDrops,
        deliveriesPerSecond: sc.durationS ? round(m.t.received / sc.durationS) : 0,
        latencyMs,
        perGroup: groupsOut,
        perClientMaxLatencyMs: m.perClientMax.summary(1000),
        perClientLossPercent: m.perClientLoss.summary(1e4),
        worstClients: m.worst,
        otherSamples: m.otherSamples,
      },
      processes: {
        ramp: rampStats,
        ...(sc.idleS > 0 || sc.rate === 0 ? { hold: holdStats } : {}),
        ...(sc.rate > 0 ? { publish: publishStats } : {}),
      },
      rssPerConnection,
      authQueries,
      generator: {
        workers,
        eventLoopDelayMs: { coordinator: coordinatorLoop, workers: m.loops },
        clockOffsetUs: clockOffsets,
        saturated,
      },
      serverLatencyMs,
      serviceMetrics: serviceDeltas,
      natsServer: nats,
      processSeries: sampler.allSeries().map((s) => ({ name: s.name, pid: s.pid, samples: s.samples })),
      checks,
      warnings,
    };

    const gw = Object.entries(gwStats)
      .filter(([k]) => k.startsWith('gateway-'))
      .map(([k, v]) => `${k} ${v.cpuAvgPct}% ${v.rssMaxMb} MB`)
      .join(', ');
    const other = ['ingest-1', 'nats-server']
      .map((k) => (gwStats[k] ? `${k} ${gwStats[k].cpuAvgPct}%` : ''))
      .filter(Boolean)
      .join(', ');
    const genLoop = Math.max(...generatorLoops.map((l) => l.p99));
    const parts = [
      `${sc.name}: ${n(st.open)}/${n(clients)} connected (connect p99 ${connectMs.p99} ms, ${st.failed} failed)`,
    ];
    if (sc.rate > 0) {
      parts.push(
        `${sc.rate} st/s × ${sc.durationS} s: ${n(m.t.received)}/${n(m.t.expected)} delivered, lost ${n(lostInclUnconnected)}, dup ${n(m.t.duplicates)}, out-of-order ${n(m.t.outOfOrder)}`,
        `latency ms p50 ${latencyMs.p50} p90 ${latencyMs.p90} p99 ${latencyMs.p99} max ${latencyMs.max}`,
      );
      const side = Object.entries(serverLatencyMs).map(([k, v]) => `${k} p99 ≤ ${v.p99} ms`);
      if (side.length) parts.push(`gateway-side (ingest → socket write) ${side.join(', ')}`);
    }
    const drops = Object.values(serverDrops).reduce((a, b) => a + b, 0);
    if (nats && nats.slow_consumers > 0) parts.push(`NATS slow consumers ${nats.slow_consumers}`);
    if (drops > 0) parts.push(`services report ${n(drops)} dropped (${Object.keys(serverDrops).join(', ')})`);
    if (rssPerConnection) {
      parts.push(
        Object.entries(rssPerConnection)
          .map(
            ([k, v]) =>
              `${k} ${(v as { kbPerConnection: number | null }).kbPerConnection ?? '?'} KB/conn RSS`,
          )
          .join(', '),
      );
    }
    if (authQueries) parts.push(`token queries ${String(authQueries['value'])}`);
    parts.push(
      `CPU/RSS ${gw}${other ? `; ${other}` : ''}`,
      `generator loop p99 ${genLoop} ms${saturated ? ' (SATURATED)' : ''}`,
    );
    const failedChecks = checks.filter((c) => !c.met).map((c) => c.what);
    parts.push(failedChecks.length ? `targets missed: ${failedChecks.join('; ')}` : 'targets met');
    return { result, human: parts.join('; '), checks, lost: sc.rate > 0 ? lostInclUnconnected : 0 };
  } finally {
    if (keyTimer) clearInterval(keyTimer);
    pool.kill();
    await pool.close().catch(() => {});
    if (stack) await stack.stop().catch(() => {});
    if (redis) {
      await removeNamespaceKeys(redis, `bench_${run}`).catch(() => 0);
      redis.disconnect();
    }
    await removeFixtures(env.databaseUrl, fx).catch((err: Error) =>
      log(`could not remove fixtures: ${err.message}`),
    );
    sampler.stop();
  }
}
