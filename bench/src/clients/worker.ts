/**
 * A client worker process (forked by clients/pool.ts): opens its share of the clients at its
 * share of the connect rate, keeps them open, counts what they receive, and answers the
 * coordinator's requests. Memory per client: a Client object, its socket, and a bitset of
 * received seqs; latencies go into one histogram per (transport, stream) group.
 */
import { Histogram } from '../measure/histogram.js';
import { LoopDelayMonitor } from '../measure/loop-delay.js';
import { MarkerScanner } from '../measure/marker.js';
import { nowUs } from '../publish/status.js';
import { Client, type ClientEvents } from './connection.js';
import {
  addCounts,
  type ClientBrief,
  type DeliveryCounts,
  type Envelope,
  type Expectations,
  type GroupResult,
  type InitMsg,
  type Reply,
  type Request,
  TRANSPORTS,
  type Transport,
  type WorkerResult,
  type WorkerStatus,
  zeroCounts,
} from './protocol.js';

const KIND_MAIN = 's'.charCodeAt(0);
const KIND_WARM = 'w'.charCodeAt(0);

let init: InitMsg | null = null;
let clients: Client[] = [];
let scanner: MarkerScanner;
let publishing = false;
let rampDone = false;
let open = 0;
let failed = 0;
let closedAfterOpen = 0;
let warmed = 0;
let receivedMain = 0;
let otherMessages = 0;
const otherSamples: string[] = [];
const connectUs = Object.fromEntries(TRANSPORTS.map((t) => [t, new Histogram()])) as Record<
  Transport,
  Histogram
>;
const connectFailures: Record<string, number> = {};
const closesAfterOpen: Record<string, number> = {};
const latency = new Map<string, Histogram>();
const loop = new LoopDelayMonitor();

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

function groupHist(c: Client): Histogram {
  const k = `${c.spec.transport}|${c.spec.stream}`;
  let h = latency.get(k);
  if (!h) {
    h = new Histogram();
    latency.set(k, h);
  }
  return h;
}

const events: ClientEvents = {
  onOpen(c) {
    open++;
    connectUs[c.spec.transport].record(c.connectUs);
  },
  onFail(_c, reason) {
    failed++;
    bump(connectFailures, reason.replace(/^(http_\d+).*/, '$1'));
  },
  onClose(c, reason) {
    open--;
    closedAfterOpen++;
    bump(closesAfterOpen, reason);
    if (c.warmed) warmed--;
  },
  onMark(c, kind, seq, tsUs) {
    if (kind === KIND_WARM) {
      if (!c.warmed) {
        c.warmed = true;
        warmed++;
      }
      return;
    }
    if (kind !== KIND_MAIN || !publishing) return;
    const lat = nowUs() - tsUs;
    if (!c.see(seq)) {
      c.duplicates++;
      return;
    }
    c.received++;
    if (c.openAtPublish) receivedMain++;
    if (seq < c.lastSeq) c.outOfOrder++;
    else c.lastSeq = seq;
    if (lat > c.maxLatencyUs) c.maxLatencyUs = lat;
    groupHist(c).record(lat);
  },
  onOther(_c, data) {
    otherMessages++;
    if (otherSamples.length < 5) otherSamples.push(data.toString('utf8', 0, Math.min(data.length, 200)));
  },
};

function ramp(): void {
  const msg = init!;
  const t0 = performance.now();
  let next = 0;
  const tick = () => {
    const due = Math.min(clients.length, Math.floor(((performance.now() - t0) * msg.connectRate) / 1000) + 1);
    while (next < due) clients[next++]!.connect(scanner, events, msg.connectTimeoutMs);
    if (next < clients.length) setTimeout(tick, 5);
    else rampDone = true;
  };
  tick();
}

function status(): WorkerStatus {
  return {
    pending: clients.filter((c) => c.state === 'connecting' || c.state === 'idle').length,
    open,
    failed,
    closedAfterOpen,
    warmed,
    receivedMain,
    rampDone,
  };
}

function finish(expect: Expectations): WorkerResult {
  const groups: Record<string, GroupResult> = {};
  const perClientMax = new Histogram();
  const perClientLoss = new Histogram();
  const briefs: ClientBrief[] = [];
  let expectedUnconnected = 0;
  let withLoss = 0;
  let withDup = 0;
  let withOoo = 0;
  let withUnexpected = 0;
  let nothing = 0;
  let openAtPublish = 0;
  const masks = expect.masks;
  // Expected seqs per shared-channel bit, computed once.
  const sharedExpected = new Map<number, number>();
  const expectedFor = (c: Client): number => {
    if (c.spec.stream === 'user') return expect.userSeqs.get(c.spec.id)?.length ?? 0;
    let n = sharedExpected.get(c.spec.bit);
    if (n === undefined) {
      n = 0;
      for (let s = 1; s < masks.length; s++) if (masks[s]! & c.spec.bit) n++;
      sharedExpected.set(c.spec.bit, n);
    }
    return n;
  };
  for (const c of clients) {
    const expected = expectedFor(c);
    if (!c.openAtPublish) {
      expectedUnconnected += expected;
      continue;
    }
    openAtPublish++;
    let got = 0;
    if (c.spec.stream === 'user') {
      for (const s of expect.userSeqs.get(c.spec.id) ?? []) if (c.has(s)) got++;
    } else if (c.bits) {
      const limit = Math.min(masks.length, c.bits.length * 8);
      for (let s = 1; s < limit; s++) if (masks[s]! & c.spec.bit && c.has(s)) got++;
    }
    const lost = expected - got;
    const unexpected = c.received - got;
    const counts: DeliveryCounts = {
      expected,
      received: got,
      lost,
      duplicates: c.duplicates,
      outOfOrder: c.outOfOrder,
      unexpected,
    };
    const k = `${c.spec.transport}|${c.spec.stream}`;
    let g = groups[k];
    if (!g) {
      g = { clients: 0, ...zeroCounts(), latencyUs: new Histogram().toData() };
      groups[k] = g;
    }
    g.clients++;
    addCounts(g, counts);
    if (lost > 0) withLoss++;
    if (c.duplicates > 0) withDup++;
    if (c.outOfOrder > 0) withOoo++;
    if (unexpected > 0) withUnexpected++;
    if (expected > 0 && c.received === 0) nothing++;
    if (c.received > 0) perClientMax.record(c.maxLatencyUs);
    if (expected > 0) perClientLoss.record(Math.round((lost / expected) * 1e6));
    if (lost > 0 || c.duplicates > 0 || c.outOfOrder > 0 || unexpected > 0 || c.state !== 'open') {
      briefs.push({
        id: c.spec.id,
        transport: c.spec.transport,
        stream: c.spec.stream,
        ...(c.spec.tag !== undefined ? { tag: c.spec.tag } : {}),
        state: c.state,
        ...counts,
        maxLatencyMs: Math.round(c.maxLatencyUs / 100) / 10,
        ...(c.note ? { note: c.note } : {}),
      });
    }
  }
  for (const [k, h] of latency) {
    const g = groups[k];
    if (g) g.latencyUs = h.toData();
  }
  briefs.sort((a, b) => b.lost + b.duplicates + b.unexpected - (a.lost + a.duplicates + a.unexpected));
  return {
    clients: clients.length,
    openAtPublish,
    connectUs: Object.fromEntries(
      TRANSPORTS.map((t) => [t, connectUs[t].toData()]),
    ) as WorkerResult['connectUs'],
    connectFailures,
    closesAfterOpen,
    groups,
    expectedUnconnected,
    clientsWithLoss: withLoss,
    clientsWithDuplicates: withDup,
    clientsWithOutOfOrder: withOoo,
    clientsWithUnexpected: withUnexpected,
    clientsReceivingNothing: nothing,
    perClientMaxUs: perClientMax.toData(),
    perClientLossPpm: perClientLoss.toData(),
    worst: briefs.slice(0, 10),
    otherMessages,
    otherSamples,
    eventLoopDelayMs: loop.read(),
    clockOffsetUs: 0,
  };
}

function reply(rid: number, body: Reply): void {
  process.send?.({ rid, body } satisfies Envelope<Reply>);
}

process.on('message', (raw: Envelope<InitMsg | Request>) => {
  const { rid, body } = raw;
  try {
    switch (body.type) {
      case 'init':
        init = body;
        scanner = new MarkerScanner(body.marker);
        clients = body.clients.map((s) => new Client(s));
        reply(rid, { type: 'ready', clockUs: nowUs() });
        break;
      case 'connect':
        ramp();
        reply(rid, { type: 'connected' });
        break;
      case 'status':
        reply(rid, { type: 'status', status: status() });
        break;
      case 'notWarmed':
        reply(rid, {
          type: 'notWarmed',
          ids: clients.filter((c) => c.state === 'open' && !c.warmed).map((c) => c.spec.id),
        });
        break;
      case 'publishStart': {
        const ids: number[] = [];
        for (const c of clients) {
          c.openAtPublish = c.state === 'open';
          if (c.openAtPublish) ids.push(c.spec.id);
        }
        publishing = true;
        if (body.resetLoop) loop.reset();
        reply(rid, { type: 'publishStart', openIds: ids });
        break;
      }
      case 'finish':
        publishing = false;
        reply(rid, { type: 'finish', result: finish(body.expect) });
        break;
      case 'close':
        for (const c of clients) c.close();
        reply(rid, { type: 'closed' });
        setTimeout(() => process.exit(0), 50);
        break;
    }
  } catch (err) {
    reply(rid, { type: 'error', message: (err as Error).stack ?? String(err) });
  }
});

process.on('disconnect', () => process.exit(0));
