/**
 * NATS helpers: a test-side connection, a subscriber that records everything it receives and
 * lets a test await a count or a condition (event-driven, no polling), JetStream stream
 * inspection and clean-up, and the gateway → ingest interest announcement.
 */
import {
  DeliverPolicy,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import { connect, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { encodeInterest, type InterestMessage, interestSubject } from '@sluice/shared';
import { servers } from './env.js';
import { WaitTimeoutError, withTimeout } from './wait.js';

const open = new Set<NatsConnection>();

/**
 * Connects to the test NATS. Reconnects forever and quickly (outage tests restart the server);
 * closed after each test by `setup.ts` if the test did not close it.
 */
export async function connectNats(name = 'sluice-integration-test'): Promise<NatsConnection> {
  const nc = await connect({
    servers: servers().natsUrl,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    reconnectJitter: 50,
    timeout: 5000,
  });
  open.add(nc);
  void nc.closed().then(() => open.delete(nc));
  return nc;
}

export async function closeAllNats(): Promise<void> {
  await Promise.allSettled([...open].map((nc) => withTimeout(nc.close(), 5000, 'NATS close')));
  open.clear();
}

export interface Received {
  subject: string;
  /** A copy of the message data. */
  data: Uint8Array;
  /** Header name → values, or null when the message had no headers. */
  headers: Map<string, string[]> | null;
  /** JetStream sequence, for messages read from a stream (not set for core deliveries). */
  seq?: number;
  receivedAt: number;
}

/** First value of a header (case-insensitive name), or undefined. */
export function header(m: Received, name: string): string | undefined {
  if (!m.headers) return undefined;
  const direct = m.headers.get(name);
  if (direct) return direct[0];
  const lower = name.toLowerCase();
  for (const [k, v] of m.headers) if (k.toLowerCase() === lower) return v[0];
  return undefined;
}

/** The data as a UTF-8 string. */
export function text(m: Received): string {
  return Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8');
}

function copyHeaders(h: MsgHdrs | undefined): Map<string, string[]> | null {
  if (!h) return null;
  const out = new Map<string, string[]>();
  for (const [k, v] of h) out.set(k, [...v]);
  return out;
}

function toReceived(m: Pick<Msg, 'subject' | 'data' | 'headers'>, seq?: number): Received {
  return {
    subject: m.subject,
    data: Uint8Array.from(m.data),
    headers: copyHeaders(m.headers),
    ...(seq !== undefined ? { seq } : {}),
    receivedAt: Date.now(),
  };
}

export interface Collector {
  readonly subject: string;
  /** Every message received (that passed `filter`), in arrival order. */
  readonly messages: Received[];
  readonly count: number;
  /** Resolves once `count` messages have been received; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<Received[]>;
  /** Resolves once `predicate(messages)` holds (checked on each arrival); rejects after `timeoutMs`. */
  waitUntil(
    predicate: (messages: readonly Received[]) => boolean,
    timeoutMs: number,
    what?: string,
  ): Promise<void>;
  /** Unsubscribes (after flushing what the server already sent). */
  stop(): Promise<void>;
}

/**
 * Subscribes to `subjectFilter` (wildcards allowed) and records every message. `filter` drops
 * messages the test does not own (e.g. other runs' traffic on shared channels).
 */
export async function collect(
  nc: NatsConnection,
  subjectFilter: string,
  opts: { filter?: (m: Received) => boolean } = {},
): Promise<Collector> {
  const messages: Received[] = [];
  const waiters = new Set<() => void>();
  const sub = nc.subscribe(subjectFilter, {
    callback: (err, msg) => {
      if (err) return;
      const r = toReceived(msg);
      if (opts.filter && !opts.filter(r)) return;
      messages.push(r);
      for (const w of [...waiters]) w();
    },
  });
  // The subscription is registered on the server once this round trip completes.
  await nc.flush();

  const waitUntil = (
    predicate: (m: readonly Received[]) => boolean,
    timeoutMs: number,
    what = 'a condition',
  ) =>
    new Promise<void>((resolve, reject) => {
      if (predicate(messages)) return resolve();
      const check = () => {
        if (predicate(messages)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new WaitTimeoutError(
            `timed out after ${timeoutMs} ms on ${subjectFilter} waiting for ${what} (have ${messages.length} messages)`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
    });

  return {
    subject: subjectFilter,
    messages,
    get count() {
      return messages.length;
    },
    async waitFor(count, timeoutMs) {
      await waitUntil((m) => m.length >= count, timeoutMs, `${count} messages`);
      return messages;
    },
    waitUntil,
    async stop() {
      if (!nc.isClosed()) {
        await nc.flush().catch(() => {});
        sub.unsubscribe();
      }
    },
  };
}

export function streamManager(nc: NatsConnection): Promise<JetStreamManager> {
  return jetstreamManager(nc, { timeout: 5000 });
}

/** The stream's info, or null when it does not exist. */
export async function streamInfo(nc: NatsConnection, stream: string): Promise<StreamInfo | null> {
  const jsm = await streamManager(nc);
  try {
    return await jsm.streams.info(stream);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** The replay stream ingest creates beside the conduit `stream` (shared/src/stream.ts). */
export function replayStreamOf(stream: string): string {
  return `${stream}_REPLAY`;
}

/**
 * Deletes a stream, and the replay stream ingest creates beside it; no error if they do not
 * exist. Returns whether `stream` itself existed.
 */
export async function deleteStream(nc: NatsConnection, stream: string): Promise<boolean> {
  const jsm = await streamManager(nc);
  const remove = async (name: string) => {
    try {
      return await jsm.streams.delete(name);
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  };
  if (!stream.endsWith('_REPLAY')) await remove(replayStreamOf(stream));
  return remove(stream);
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; code?: number; message?: string; api_error?: { err_code?: number } };
  return (
    e?.name === 'StreamNotFoundError' ||
    e?.api_error?.err_code === 10059 ||
    /stream not found/i.test(e?.message ?? '')
  );
}

/**
 * Every message stored in `stream` now, in stream order (ordered consumer from the first
 * sequence up to the last one at call time).
 */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  timeoutMs = 15_000,
): Promise<Received[]> {
  const info = await streamInfo(nc, stream);
  if (!info || info.state.messages === 0) return [];
  const last = info.state.last_seq;
  const js = jetstream(nc, { timeout: 5000 });
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: Received[] = [];
  const iter = await consumer.consume({ max_messages: 1000 });
  const read = (async () => {
    for await (const m of iter) {
      out.push(toReceived(m, m.seq));
      if (m.seq >= last) break;
    }
  })();
  try {
    await withTimeout(read, timeoutMs, `reading ${info.state.messages} messages of stream ${stream}`);
  } finally {
    await iter.close().catch(() => {});
  }
  return out;
}

/** Publishes a gateway interest announcement (shared/src/interest.ts) on `<prefix>.ctl.interest`. */
export async function announceInterest(
  nc: NatsConnection,
  prefix: string,
  channels: string[],
  { op = 'add', gateway = 'integration-test' }: { op?: InterestMessage['op']; gateway?: string } = {},
): Promise<void> {
  nc.publish(interestSubject(prefix), encodeInterest({ v: 1, op, gateway, channels }));
  await nc.flush();
}
