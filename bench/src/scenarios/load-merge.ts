/** Adds up the client workers' results of a load scenario. */
import { addCounts, type DeliveryCounts, type WorkerResult, zeroCounts } from '../clients/protocol.js';
import { Histogram } from '../measure/histogram.js';

export function mergeResults(results: WorkerResult[]) {
  const latency = new Histogram();
  const connect = new Histogram();
  const perClientMax = new Histogram();
  const perClientLoss = new Histogram();
  const connectByTransport: Record<string, Histogram> = {};
  const groups: Record<string, DeliveryCounts & { clients: number; latency: Histogram }> = {};
  const failures: Record<string, number> = {};
  const closes: Record<string, number> = {};
  const t = {
    clients: 0,
    openAtPublish: 0,
    ...zeroCounts(),
    expectedUnconnected: 0,
    clientsWithLoss: 0,
    clientsWithDuplicates: 0,
    clientsWithOutOfOrder: 0,
    clientsWithUnexpected: 0,
    clientsReceivingNothing: 0,
    otherMessages: 0,
  };
  const otherSamples: string[] = [];
  const worst: WorkerResult['worst'] = [];
  const loops: WorkerResult['eventLoopDelayMs'][] = [];
  for (const r of results) {
    t.clients += r.clients;
    t.openAtPublish += r.openAtPublish;
    t.expectedUnconnected += r.expectedUnconnected;
    t.clientsWithLoss += r.clientsWithLoss;
    t.clientsWithDuplicates += r.clientsWithDuplicates;
    t.clientsWithOutOfOrder += r.clientsWithOutOfOrder;
    t.clientsWithUnexpected += r.clientsWithUnexpected;
    t.clientsReceivingNothing += r.clientsReceivingNothing;
    t.otherMessages += r.otherMessages;
    otherSamples.push(...r.otherSamples);
    worst.push(...r.worst);
    loops.push(r.eventLoopDelayMs);
    perClientMax.merge(r.perClientMaxUs);
    perClientLoss.merge(r.perClientLossPpm);
    for (const [tr, h] of Object.entries(r.connectUs)) {
      let ch = connectByTransport[tr];
      if (!ch) {
        ch = new Histogram();
        connectByTransport[tr] = ch;
      }
      ch.merge(h);
      connect.merge(h);
    }
    for (const [k, v] of Object.entries(r.connectFailures)) failures[k] = (failures[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.closesAfterOpen)) closes[k] = (closes[k] ?? 0) + v;
    for (const [k, g] of Object.entries(r.groups)) {
      let m = groups[k];
      if (!m) {
        m = { clients: 0, ...zeroCounts(), latency: new Histogram() };
        groups[k] = m;
      }
      m.clients += g.clients;
      addCounts(m, g);
      addCounts(t, g);
      m.latency.merge(g.latencyUs);
      latency.merge(g.latencyUs);
    }
  }
  worst.sort((a, b) => b.lost + b.duplicates + b.unexpected - (a.lost + a.duplicates + a.unexpected));
  return {
    t,
    latency,
    connect,
    connectByTransport,
    perClientMax,
    perClientLoss,
    groups,
    failures,
    closes,
    otherSamples: otherSamples.slice(0, 5),
    worst: worst.slice(0, 10),
    loops,
  };
}
