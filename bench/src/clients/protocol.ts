/**
 * What the coordinator (run.ts) and the client worker processes say to each other over IPC
 * (`child_process.fork`, advanced serialisation: typed arrays and Maps travel as they are).
 */
import type { HistogramData } from '../measure/histogram.js';

export type Transport = 'ws-query' | 'ws-subscribe' | 'sse';
export type StreamName = 'user' | 'public' | 'public:local' | 'hashtag';
export const TRANSPORTS: readonly Transport[] = ['ws-query', 'ws-subscribe', 'sse'];
export const STREAMS: readonly StreamName[] = ['user', 'public', 'public:local', 'hashtag'];

export interface ClientSpec {
  id: number;
  transport: Transport;
  stream: StreamName;
  /** Hashtag as the client sends it (may differ in case from the published name). */
  tag?: string;
  token: string;
  port: number;
  localAddress?: string;
  /** Shared streams: the channel bit (publisher BIT / tagBit); 0 for `user`. */
  bit: number;
  /** `user` stream: index of its account among the publisher's recipients; else -1. */
  recipient: number;
}

export interface InitMsg {
  type: 'init';
  marker: string;
  clients: ClientSpec[];
  /** Connections opened per second by this worker. */
  connectRate: number;
  connectTimeoutMs: number;
}

export interface Expectations {
  /** masks[seq] for every seq published (shared channels). */
  masks: Uint32Array;
  /** For this worker's `user` clients: client id → seqs published to its account. */
  userSeqs: Map<number, Uint32Array>;
}

export type Request =
  | { type: 'connect' }
  | { type: 'status' }
  | { type: 'notWarmed' }
  | { type: 'publishStart'; resetLoop: boolean }
  | { type: 'finish'; expect: Expectations }
  | { type: 'close' };

export interface WorkerStatus {
  pending: number;
  open: number;
  failed: number;
  closedAfterOpen: number;
  warmed: number;
  /** Distinct measured payloads received by clients open at publish start. */
  receivedMain: number;
  rampDone: boolean;
}

/** What is counted for one client, a group of clients, and the whole run. */
export interface DeliveryCounts {
  expected: number;
  received: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
}

export function zeroCounts(): DeliveryCounts {
  return { expected: 0, received: 0, lost: 0, duplicates: 0, outOfOrder: 0, unexpected: 0 };
}

export function addCounts(into: DeliveryCounts, from: DeliveryCounts): void {
  into.expected += from.expected;
  into.received += from.received;
  into.lost += from.lost;
  into.duplicates += from.duplicates;
  into.outOfOrder += from.outOfOrder;
  into.unexpected += from.unexpected;
}

export interface GroupResult extends DeliveryCounts {
  clients: number;
  latencyUs: HistogramData;
}

export interface ClientBrief extends DeliveryCounts {
  id: number;
  transport: Transport;
  stream: StreamName;
  tag?: string;
  state: string;
  maxLatencyMs: number;
  note?: string;
}

export interface WorkerResult {
  clients: number;
  openAtPublish: number;
  connectUs: Record<Transport, HistogramData>;
  connectFailures: Record<string, number>;
  closesAfterOpen: Record<string, number>;
  /** Key `transport|stream`. */
  groups: Record<string, GroupResult>;
  /** Expected for clients that never connected (counted as lost in `lostIncludingUnconnected`). */
  expectedUnconnected: number;
  clientsWithLoss: number;
  clientsWithDuplicates: number;
  clientsWithOutOfOrder: number;
  clientsWithUnexpected: number;
  clientsReceivingNothing: number;
  /** Per client: the largest latency it saw (µs), one value per client that received. */
  perClientMaxUs: HistogramData;
  /** Per client: lost / expected in parts per million. */
  perClientLossPpm: HistogramData;
  worst: ClientBrief[];
  /** Frames that were not bench events (error replies and the like), with a few examples. */
  otherMessages: number;
  otherSamples: string[];
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  clockOffsetUs: number;
}

export type Reply =
  | { type: 'ready'; clockUs: number }
  | { type: 'status'; status: WorkerStatus }
  | { type: 'notWarmed'; ids: number[] }
  | { type: 'publishStart'; openIds: number[] }
  | { type: 'finish'; result: WorkerResult }
  | { type: 'closed' }
  | { type: 'connected' }
  | { type: 'error'; message: string };

export interface Envelope<T> {
  rid: number;
  body: T;
}
