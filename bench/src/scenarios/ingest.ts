/**
 * t5, ingest only (no gateway, no clients): two replicas read the same Redis.
 *  1. Latency: R₁ messages/s (default 1,000) for T₁ s; the bench subscribes to `<prefix>.ev.>` and
 *     to Redis itself, so the report gives Redis PUBLISH → `ev` subject latency and, beside it,
 *     the Redis-only latency (what any Redis subscriber, Mastodon's server included, pays).
 *  2. Throughput: R₂ messages/s offered (default 20,000) for T₂ s; each replica's progress is read
 *     from its /metrics every second (published + duplicates = messages it got acknowledged), and
 *     the stream's last sequence shows each message was stored once.
 * Each message is a ~3 KB status to one channel: public 30%, public:local 15%, public:remote 10%,
 * hashtags 20%, home timelines 25% (spread over `homeTimelines` accounts).
 */
import { Redis } from 'ioredis';
import type { Author } from '../fixtures/fixtures.js';
import { Histogram } from '../measure/histogram.js';
import { MarkerScanner } from '../measure/marker.js';
import { natsVarz, varzDelta } from '../measure/nats-monitor.js';
import { ProcSampler } from '../measure/proc-sampler.js';
import { delta, digest, metricSum, scrape } from '../measure/prometheus.js';
import { Publisher } from '../publish/publisher.js';
import { markerPrefix, nowUs } from '../publish/status.js';
import { n, round } from '../report.js';
import { streamState } from '../services/nats-admin.js';
import type { IngestScenario } from './catalog.js';
import {
  type Check,
  disturbances,
  onRedisError,
  type RunContext,
  type ScenarioOutcome,
  sleep,
} from './context.js';
import { TAGS } from './load-specs.js';
import { type Stack, startStack } from './stack.js';

const KIND_MAIN = 's'.charCodeAt(0);
const KIND_WARM = 'w'.charCodeAt(0);

function syntheticAuthors(run: string): Author[] {
  const domains = ['mastodon.example', 'social.example', 'fedi.example'];
  return Array.from({ length: 40 }, (_, i) => {
    const domain = i < 30 ? null : domains[i % domains.length]!;
    const username = `bench_${run}_a${i}`;
    return {
      id: String(110_000_000_000_000_000n + BigInt(i)),
      username,
      domain,
      acct: domain ? `${username}@${domain}` : username,
      displayName: `Bench author ${i}`,
    };
  });
}

function channelPicker(publisher: Publisher, homeTimelines: number): () => string {
  const tagChannels = TAGS.map((_, k) => publisher.tagChannel(k));
  const homeBase = 120_000_000_000_000_000n;
  return () => {
    const r = publisher.random();
    if (r < 0.3) return 'timeline:public';
    if (r < 0.45) return 'timeline:public:local';
    if (r < 0.55) return 'timeline:public:remote';
    if (r < 0.75) return tagChannels[Math.floor(publisher.random() * tagChannels.length)]!;
    return `timeline:${homeBase + BigInt(Math.floor(publisher.random() * homeTimelines))}`;
  };
}

/** Messages a replica got acknowledged (stored or recognised as duplicate) so far. */
async function acked(url: string): Promise<number> {
  const s = await scrape(`${url}/metrics`);
  return (
    metricSum(s, 'sluice_ingest_messages_published_total') + metricSum(s, 'sluice_ingest_duplicates_total')
  );
}

export async function runIngest(sc: IngestScenario, ctx: RunContext): Promise<ScenarioOutcome> {
  const { env, run, log } = ctx;
  const warnings: string[] = [];
  const sampler = new ProcSampler();
  sampler.add('machine', 0);
  sampler.add('bench-coordinator', process.pid);
  sampler.startSampling();
  const t0 = Date.now();
  let stack: Stack | null = null;
  let redis: Redis | null = null;
  let redisSub: Redis | null = null;
  try {
    stack = await startStack(
      env,
      {
        run,
        ingests: sc.replicas,
        gateways: 0,
        logDir: ctx.logDir,
        nodeArgs: ctx.nodeArgs,
        extraEnv: ctx.serviceEnv,
        mains: ctx.mains,
      },
      sampler,
    );
    sampler.mark('start');
    redis = new Redis(env.redisUrl, { connectionName: `sluice-bench-${run}`, maxRetriesPerRequest: 3 });
    redis.on('error', onRedisError(log));
    const publisher = new Publisher(redis, {
      run,
      prefix: `${stack.namespace}:`,
      authors: syntheticAuthors(run),
      tags: TAGS,
      recipients: [],
      homeFanout: 0,
      mediaShare: sc.mediaShare,
    });
    const pick = channelPicker(publisher, sc.homeTimelines);
    const varzBefore = await natsVarz(env.natsMonitorUrl);
    const scanner = new MarkerScanner(markerPrefix(run));

    // Phase 1: latency.
    const evLatency = new Histogram();
    /** Per second of the latency phase (by publish time): shows stalls that a p99 hides. */
    const perSecond: Histogram[] = [];
    let phaseStartUs = nowUs();
    const redisLatency = new Histogram();
    const coldLatency = new Histogram();
    const seen = new Set<number>();
    let evReceived = 0;
    let evDuplicates = 0;
    const sub = stack.nc.subscribe(`${stack.prefix}.ev.>`, {
      callback: (err, msg) => {
        if (err) return;
        const now = nowUs();
        const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
        scanner.scan(data, (kind, seq, ts) => {
          if (kind === KIND_WARM) coldLatency.record(now - ts);
          if (kind !== KIND_MAIN) return;
          if (seen.has(seq)) {
            evDuplicates++;
            return;
          }
          seen.add(seq);
          evReceived++;
          evLatency.record(now - ts);
          const sec = Math.max(0, Math.floor((ts - phaseStartUs) / 1e6));
          if (sec < 3600) {
            perSecond[sec] ??= new Histogram();
            perSecond[sec].record(now - ts);
          }
        });
      },
    });
    await stack.nc.flush();
    redisSub = new Redis(env.redisUrl, { connectionName: `sluice-bench-${run}-sub` });
    redisSub.on('error', onRedisError(log));
    redisSub.on('pmessageBuffer', (_p: Buffer, _c: Buffer, message: Buffer) => {
      const now = nowUs();
      scanner.scan(message, (kind, _seq, ts) => {
        if (kind === KIND_MAIN) redisLatency.record(now - ts);
      });
    });
    await redisSub.psubscribe(`${stack.namespace}:timeline:*`);

    // Cold start: the first seconds after the replicas started, reported apart.
    let cold = { done: 0, elapsedMs: 0 };
    if (sc.coldStartS > 0) {
      log(`cold start: ${sc.latencyRate} msgs/s for ${sc.coldStartS} s`);
      cold = await publisher.paced(sc.latencyRate, sc.coldStartS * 1000, () =>
        publisher.publishSingle(pick(), 'w'),
      );
      const coldLimit = Date.now() + 10_000;
      while (coldLatency.count < cold.done && Date.now() < coldLimit) await sleep(100);
    }
    log(`latency phase: ${sc.latencyRate} msgs/s for ${sc.latencyS} s`);
    sampler.mark('latency-start');
    phaseStartUs = nowUs();
    const p1 = await publisher.paced(sc.latencyRate, sc.latencyS * 1000, () =>
      publisher.publishSingle(pick()),
    );
    sampler.mark('latency-end');
    const p1Limit = Date.now() + 10_000;
    while (evReceived < p1.done && Date.now() < p1Limit) await sleep(100);
    sub.unsubscribe();
    await redisSub.punsubscribe();
    redisSub.disconnect();
    redisSub = null;
    const latencyStats = sampler.phaseStats('latency-start', 'latency-end');

    // Phase 2: throughput.
    await sleep(1000);
    const streamBefore = await streamState(stack.nc, stack.stream);
    const metricsBefore: Record<string, Record<string, number>> = {};
    const base: Record<string, number> = {};
    for (const s of stack.ingests) {
      metricsBefore[s.name] = digest(await scrape(`${s.url}/metrics`));
      base[s.name] = await acked(s.url);
    }
    const progress: Record<string, { t: number; acked: number }[]> = {};
    const doneAt: Record<string, number | null> = {};
    for (const s of stack.ingests) {
      progress[s.name] = [];
      doneAt[s.name] = null;
    }
    const sentBefore = p1.done;
    let offered = 0;
    const tStart = performance.now();
    const poll = async () => {
      for (const s of stack!.ingests) {
        try {
          const a = (await acked(s.url)) - base[s.name]!;
          const t = performance.now() - tStart;
          progress[s.name]!.push({ t: round(t / 1000, 2), acked: a });
          if (doneAt[s.name] === null && offered > 0 && a >= offered) doneAt[s.name] = t;
        } catch {
          // a scrape may time out under load; the next one counts
        }
      }
    };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await poll();
        await sleep(1000);
      }
    })();
    log(`throughput phase: ${sc.rate} msgs/s offered for ${sc.durationS} s`);
    sampler.mark('throughput-start');
    const p2 = await publisher.paced(sc.rate, sc.durationS * 1000, () => publisher.publishSingle(pick()));
    offered = p2.done;
    const publishEnd = performance.now() - tStart;
    sampler.mark('throughput-publish-end');
    const drainLimit = Date.now() + sc.drainS * 1000;
    while (Date.now() < drainLimit && stack.ingests.some((s) => doneAt[s.name] === null)) {
      await sleep(250);
      await poll();
    }
    polling = false;
    await poller;
    sampler.mark('throughput-end');
    const streamAfter = await streamState(stack.nc, stack.stream);
    const nats = varzDelta(varzBefore, await natsVarz(env.natsMonitorUrl));
    if (nats && nats.slow_consumers > 0) {
      warnings.push(`nats-server reported ${nats.slow_consumers} slow consumer(s) during the run`);
    }
    const metricsAfter: Record<string, Record<string, number>> = {};
    for (const s of stack.ingests) metricsAfter[s.name] = digest(await scrape(`${s.url}/metrics`));
    await stack.stop();
    stack = null;
    sampler.stop();

    // CPU while the load was offered, and while the replicas worked off their backlog.
    const throughputStats = sampler.phaseStats('throughput-start', 'throughput-publish-end');
    const backlogStats = sampler.phaseStats('throughput-publish-end', 'throughput-end');
    const perReplica: Record<string, unknown> = {};
    const rates: number[] = [];
    for (const [name, points] of Object.entries(progress)) {
      const last = points[points.length - 1]?.acked ?? 0;
      const finished = doneAt[name];
      // While it had work: until it caught up, else until its count last moved (the rest was
      // lost to a Redis disconnect and never reached it).
      let lastMove = points[0]?.t ?? 0;
      for (let i = 1; i < points.length; i++)
        if (points[i]!.acked > points[i - 1]!.acked) lastMove = points[i]!.t;
      const sustained = finished ? offered / (finished / 1000) : lastMove > 0 ? last / lastMove : 0;
      // Best rate over any window of at least one second.
      let peak = 0;
      for (let i = 0, j = 0; i < points.length; i++) {
        while (j < points.length && points[j]!.t - points[i]!.t < 1) j++;
        if (j >= points.length) break;
        peak = Math.max(peak, (points[j]!.acked - points[i]!.acked) / (points[j]!.t - points[i]!.t));
      }
      rates.push(sustained);
      const md = delta(metricsBefore[name] ?? {}, metricsAfter[name] ?? {});
      const droppedByIngest = Object.entries(md)
        .filter(([k]) => k.startsWith('sluice_ingest_dropped_total'))
        .reduce((a, [, v]) => a + v, 0);
      perReplica[name] = {
        droppedByIngest,
        redisReconnects: md['sluice_ingest_redis_reconnects_total'] ?? 0,
        acked: last,
        offered,
        notAcked: offered - last,
        caughtUpAfterS: finished ? round(finished / 1000, 2) : null,
        sustainedMsgsPerS: Math.round(sustained),
        peakMsgsPerS: Math.round(peak),
        cpu: throughputStats[name],
        metricsDelta: md,
        progress: points,
      };
    }
    warnings.push(
      ...disturbances(
        sampler.allSeries(),
        Object.fromEntries(
          Object.keys(metricsAfter).map((k) => [k, delta(metricsBefore[k] ?? {}, metricsAfter[k] ?? {})]),
        ),
      ),
    );
    let stored = streamAfter && streamBefore ? streamAfter.lastSeq - streamBefore.lastSeq : null;
    if (stored !== null && stored < 0) {
      warnings.push('the stream was recreated during the run (NATS restarted?): stored count unknown');
      stored = null;
    }
    if (stored !== null && stored !== offered) {
      warnings.push(`stream stored ${stored} messages for ${offered} published`);
    }
    const offeredRate = offered / (publishEnd / 1000);
    const evMs = evLatency.summary(1000);
    const redisMs = redisLatency.summary(1000);
    const lost = p1.done - evReceived;
    const checks: Check[] = [
      {
        what: 'ev latency p99 ms at ' + sc.latencyRate + ' msgs/s',
        value: evMs.p99,
        limit: '≤ 5',
        met: evMs.p99 <= 5,
      },
      ...rates.map((r, i) => ({
        what: `ingest-${i + 1} msgs/s (sustained, offered ${Math.round(offeredRate)})`,
        value: Math.round(r),
        limit: '≥ 20000',
        met: r >= 20_000,
      })),
      { what: 'latency phase: messages missing on ev', value: lost, limit: '= 0', met: lost === 0 },
      { what: 'latency phase: duplicates on ev', value: evDuplicates, limit: '= 0', met: evDuplicates === 0 },
    ];
    const result = {
      scenario: sc.name,
      description: sc.description,
      target: sc.target,
      params: sc,
      run,
      durationS: round((Date.now() - t0) / 1000),
      coldStart: {
        seconds: sc.coldStartS,
        published: cold.done,
        receivedOnEv: coldLatency.count,
        redisToEvMs: coldLatency.summary(1000),
      },
      latencyPhase: {
        rate: sc.latencyRate,
        seconds: sc.latencyS,
        published: p1.done,
        achievedRate: round((p1.done * 1000) / p1.elapsedMs),
        receivedOnEv: evReceived,
        duplicatesOnEv: evDuplicates,
        redisToEvMs: evMs,
        redisToEvMsPerSecond: Array.from(perSecond, (h, i) => ({
          second: i,
          ...(h ? h.summary(1000) : { count: 0 }),
        })),
        redisOnlyMs: redisMs,
        processes: latencyStats,
      },
      throughputPhase: {
        offeredRate: Math.round(offeredRate),
        seconds: sc.durationS,
        published: offered,
        sentBefore,
        storedInStream: stored,
        streamAfter,
        perReplica,
        processes: throughputStats,
        processesAfterPublishing: backlogStats,
        averageMessageBytes: Math.round(publisher.counters.bytes / Math.max(1, publisher.counters.messages)),
        redisErrors: publisher.counters.errors,
      },
      natsServer: nats,
      processSeries: sampler.allSeries().map((s) => ({ name: s.name, pid: s.pid, samples: s.samples })),
      checks,
      warnings,
    };
    const rep = Object.entries(perReplica)
      .map(([k, v]) => {
        const r = v as {
          sustainedMsgsPerS: number;
          caughtUpAfterS: number | null;
          notAcked: number;
          droppedByIngest: number;
          redisReconnects: number;
          cpu?: { cpuAvgPct: number };
        };
        return `${k} ${n(r.sustainedMsgsPerS)} msgs/s (${r.caughtUpAfterS === null ? `not caught up, ${n(r.notAcked)} never acked: ${n(r.droppedByIngest)} dropped by ingest, Redis cut it off ${r.redisReconnects}×` : `caught up at ${r.caughtUpAfterS} s`}, CPU ${r.cpu?.cpuAvgPct ?? '?'}%)`;
      })
      .join(', ');
    const missed = checks.filter((c) => !c.met).map((c) => c.what);
    const human =
      `${sc.name}: cold start (first ${sc.coldStartS} s) Redis→ev p99 ${coldLatency.summary(1000).p99} ms; ` +
      `latency @ ${n(sc.latencyRate)}/s Redis→ev p50 ${evMs.p50} p99 ${evMs.p99} max ${evMs.max} ms ` +
      `(Redis alone p99 ${redisMs.p99} ms), ${n(evReceived)}/${n(p1.done)} on ev, dup ${evDuplicates}; ` +
      `throughput: ${n(offered)} offered at ${n(offeredRate)}/s → ${rep}; stored once: ${stored === null ? '?' : n(stored)}; ` +
      `nats-server CPU ${throughputStats['nats-server']?.cpuAvgPct ?? '?'}%, redis ${throughputStats['redis-server']?.cpuAvgPct ?? '?'}%, bench ${throughputStats['bench-coordinator']?.cpuAvgPct ?? '?'}%; ` +
      (missed.length ? `targets missed: ${missed.join('; ')}` : 'targets met');
    return { result, human, checks, lost };
  } finally {
    redisSub?.disconnect();
    redis?.disconnect();
    if (stack) await stack.stop().catch(() => {});
    sampler.stop();
  }
}
