/**
 * Shared pieces of the filtering end-to-end tests (spec §5.6, §8, §15): realistic status
 * payloads, the bytes a client must receive, stream specifications for WebSocket and SSE, keyword
 * filters with UTC expiry, and readiness / marker helpers that prove delivery or non-delivery
 * without sleeping.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { expect } from 'vitest';
import { SSE, type Stack, statusJson, suffix } from '../gateway/support.js';
import { onCleanup } from '../harness/cleanup.js';
import { Recorder, type SseClient, type SseEvent, type WsClient, type WsEvent } from '../harness/clients.js';
import { type Fixtures, nextId, type TestAccount } from '../harness/fixtures.js';
import { railsPublish } from '../harness/redis.js';

// ------------------------------------------------------------------ payloads

export interface StatusExtras {
  content?: string;
  spoiler?: string;
  language?: string | null;
  mentions?: TestAccount[];
  /** Media attachment descriptions (null = no description). */
  media?: (string | null)[];
  /** Poll option titles. */
  poll?: string[];
  tags?: string[];
  /** glitch-soc `local_only`. */
  localOnly?: boolean;
  /** A `filtered` array already set by Rails (home/list rendering). */
  filtered?: unknown[];
}

/** A status as REST::StatusSerializer renders it for streaming, with the parts filters read. */
export function status(author: TestAccount, o: StatusExtras = {}): Record<string, unknown> & { id: string } {
  const s = statusJson(author, {
    ...(o.content !== undefined ? { content: o.content } : {}),
    ...(o.language !== undefined ? { language: o.language } : {}),
    ...(o.mentions ? { mentions: o.mentions } : {}),
    ...(o.tags ? { tags: o.tags } : {}),
  });
  s['spoiler_text'] = o.spoiler ?? '';
  s['sensitive'] = (o.spoiler ?? '') !== '';
  if (o.media) {
    s['media_attachments'] = o.media.map((description, i) => ({
      id: nextId(),
      type: 'image',
      url: `https://local.test/system/media/${i}.png`,
      preview_url: `https://local.test/system/media/${i}s.png`,
      remote_url: null,
      preview_remote_url: null,
      text_url: null,
      meta: { original: { width: 640, height: 480 } },
      description,
      blurhash: 'UFF~tX00%MRj',
    }));
  }
  if (o.poll) {
    s['poll'] = {
      id: nextId(),
      expires_at: '2099-01-01T00:00:00.000Z',
      expired: false,
      multiple: false,
      votes_count: 0,
      voters_count: 0,
      options: o.poll.map((title) => ({ title, votes_count: 0 })),
      emojis: [],
    };
  }
  if (o.localOnly !== undefined) s['local_only'] = o.localOnly;
  if (o.filtered !== undefined) s['filtered'] = o.filtered;
  return s;
}

/** The bytes Mastodon sends on a public stream: `{...payload, filtered}` with `filtered` appended last. */
export function withFiltered(payload: unknown, results: unknown[]): string {
  const s = JSON.stringify(payload);
  return `${s.slice(0, -1)},"filtered":${JSON.stringify(results)}}`;
}

export interface FilterJson {
  id: string;
  title: string;
  context: string[];
  expires_at: string | null;
  filter_action: 'warn' | 'hide' | 'blur';
}

/** A FilterResult as Rails' REST::FilterResultSerializer shapes it (streaming variant). */
export function filterResult(filter: FilterJson, match: string) {
  return { filter, keyword_matches: [match], status_matches: null };
}

// ------------------------------------------------------------------ keyword filters

export interface KeywordFilter {
  phrase: string;
  /** 0 warn, 1 hide, 2 blur. */
  action?: 0 | 1 | 2;
  context?: string[];
  /**
   * UTC as `YYYY-MM-DDTHH:MM:SS.fff[fff]Z` (stored in `timestamp without time zone` as Rails does,
   * microseconds included: Rails keeps them, its JSON truncates them to milliseconds).
   */
  expiresAt?: string | null;
  keywords: { keyword: string; wholeWord?: boolean }[];
}

const ACTIONS = ['warn', 'hide', 'blur'] as const;

/**
 * Inserts a custom filter with its keywords (expiry written as a UTC wall-clock string, the way
 * Rails stores it, whatever this process's time zone) and returns the `filter` JSON Rails renders.
 */
export async function addFilter(fx: Fixtures, accountId: string, f: KeywordFilter): Promise<FilterJson> {
  const id = nextId();
  const context = f.context ?? ['home', 'public'];
  const expires = f.expiresAt ?? null;
  await fx.query(
    `INSERT INTO custom_filters (id, account_id, action, context, expires_at, phrase, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5::timestamp, $6, now(), now())`,
    [id, accountId, f.action ?? 0, context, expires === null ? null : utcWallClock(expires), f.phrase],
  );
  for (const k of f.keywords) {
    await fx.query(
      `INSERT INTO custom_filter_keywords (id, custom_filter_id, keyword, whole_word, created_at, updated_at)
       VALUES ($1, $2, $3, $4, now(), now())`,
      [nextId(), id, k.keyword, k.wholeWord ?? true],
    );
  }
  return {
    id,
    title: f.phrase,
    context,
    expires_at: expires === null ? null : `${expires.slice(0, 23)}Z`,
    filter_action: ACTIONS[f.action ?? 0],
  };
}

/** `2099-01-01T00:00:00.000123Z` → `2099-01-01 00:00:00.000123` (no zone: stored as is). */
function utcWallClock(iso: string): string {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z$/.test(iso)) throw new Error(`not a UTC timestamp: ${iso}`);
  return iso.replace('T', ' ').replace('Z', '');
}

// ------------------------------------------------------------------ streams and clients

export type StreamKind =
  | 'public'
  | 'public:media'
  | 'public:local'
  | 'public:remote'
  | 'hashtag'
  | 'hashtag:local'
  | 'public+allow_local_only'
  | 'public:allow_local_only'
  | 'user'
  | 'list'
  | 'direct';

export interface StreamSpec {
  kind: StreamKind;
  /** The Redis channel Rails publishes the row's events to. */
  channel: string;
  ws: { stream: string; params: Record<string, unknown> };
  sse: { path: string; query: Record<string, string> };
}

export function streamSpec(
  kind: StreamKind,
  ctx: { accountId: string; tag: string; listId?: string },
): StreamSpec {
  const spec = (
    channel: string,
    stream: string,
    params: Record<string, unknown>,
    path: string,
    query = {},
  ) => ({
    kind,
    channel,
    ws: { stream, params },
    sse: { path: `${SSE}${path}`, query },
  });
  switch (kind) {
    case 'public':
      return spec('timeline:public', 'public', {}, '/public');
    case 'public:media':
      return spec('timeline:public:media', 'public:media', {}, '/public', { only_media: 'true' });
    case 'public:local':
      return spec('timeline:public:local', 'public:local', {}, '/public/local');
    case 'public:remote':
      return spec('timeline:public:remote', 'public:remote', {}, '/public/remote');
    case 'hashtag':
      return spec(`timeline:hashtag:${ctx.tag}`, 'hashtag', { tag: ctx.tag }, '/hashtag', { tag: ctx.tag });
    case 'hashtag:local':
      return spec(`timeline:hashtag:${ctx.tag}:local`, 'hashtag:local', { tag: ctx.tag }, '/hashtag/local', {
        tag: ctx.tag,
      });
    case 'public+allow_local_only':
      return spec('timeline:public', 'public', { allow_local_only: 'true' }, '/public', {
        allow_local_only: 'true',
      });
    case 'public:allow_local_only':
      // A WebSocket-only stream name; SSE reaches the same subscription with the query parameter.
      return spec('timeline:public', 'public:allow_local_only', {}, '/public', { allow_local_only: 'true' });
    case 'user':
      return spec(`timeline:${ctx.accountId}`, 'user', {}, '/user');
    case 'list':
      if (!ctx.listId) throw new Error('list stream without a list');
      return spec(`timeline:list:${ctx.listId}`, 'list', { list: ctx.listId }, '/list', { list: ctx.listId });
    case 'direct':
      return spec(`timeline:direct:${ctx.accountId}`, 'direct', {}, '/direct');
  }
}

/** One user's WebSocket and SSE connection on the same stream. */
export interface Pair {
  spec: StreamSpec;
  ws: WsClient;
  sse: SseClient;
}

export async function openPair(s: Stack, token: string, spec: StreamSpec): Promise<Pair> {
  const ws = await s.ws({ token });
  ws.subscribe(spec.ws.stream, spec.ws.params);
  const sse = await s.sse({ path: spec.sse.path, query: spec.sse.query, token });
  expect(sse.status, `SSE ${spec.sse.path} status`).toBe(200);
  return { spec, ws, sse };
}

/** Proves both subscriptions are live end to end (probes until each client received one). */
export async function readyPair(s: Stack, p: Pair): Promise<void> {
  await s.ready(p.ws, p.spec.channel);
  await s.ready(p.sse, p.spec.channel);
}

function payloadId(text: string): string | undefined {
  if (!text.startsWith('{')) return text;
  try {
    const v = JSON.parse(text) as { id?: unknown };
    return typeof v.id === 'string' ? v.id : undefined;
  } catch {
    return undefined;
  }
}

/** Payload texts of `event` whose status id (or, for a string payload, the payload) is `id`. */
export function wsPayloads(ws: WsClient, event: string, id: string): string[] {
  return ws
    .events((e: WsEvent) => e.event === event && typeof e.payload === 'string' && payloadId(e.payload) === id)
    .map((e) => e.payload as string);
}

export function ssePayloads(sse: SseClient, event: string, id: string): string[] {
  return sse.events.filter((e: SseEvent) => e.event === event && payloadId(e.data) === id).map((e) => e.data);
}

/** A `delete` marker Rails-published on a channel; an event published before it was processed before it. */
export async function publishMarker(s: Stack, channel: string): Promise<string> {
  const id = `mark${suffix()}${nextId()}`;
  const published = await railsPublish(s.redis, channel, 'delete', id);
  expect(published, `marker published on ${channel}`).toBe(true);
  return id;
}

export async function waitForMarker(p: Pair, marker: string, timeoutMs = 10_000): Promise<void> {
  await Promise.all([
    p.ws.waitForEvent((e) => e.event === 'delete' && e.payload === marker, timeoutMs, `marker ${marker}`),
    p.sse.waitForEvent((e) => e.event === 'delete' && e.data === marker, timeoutMs, `marker ${marker}`),
  ]);
}

// ------------------------------------------------------------------ a controllable path to Postgres

export interface ProxyTraffic {
  /** Order of arrival at the proxy (timestamps can tie). */
  seq: number;
  conn: number;
  dir: 'request' | 'response';
  /** The bytes as latin1 text (SQL text of a Parse message is readable in it). */
  text: string;
  at: number;
}

/**
 * A TCP proxy in front of Postgres for a gateway's DATABASE_URL. It records what passes and can
 * hold what clients send (queries then hang: a stalled database) or the server's answers to a
 * given statement (it ran, its answer is late), and release it all later.
 */
export class PgProxy {
  readonly traffic = new Recorder<ProxyTraffic>((t) => `${t.conn} ${t.dir} ${t.text.length} bytes`);
  private holdRequestsOn = false;
  /** Answers to requests containing this text are held (other connections flow). */
  private holdAnswersTo: string | null = null;
  private readonly conns: {
    client: Socket;
    upstream: Socket;
    toServer: Buffer[];
    toClient: Buffer[];
    holdingAnswers: boolean;
  }[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: string): Promise<PgProxy> {
    const url = new URL(target);
    let proxy: PgProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, url));
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(0, '127.0.0.1', () => res());
    });
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('proxy: no port');
    proxy = new PgProxy(server, addr.port);
    onCleanup(() => proxy!.close());
    return proxy;
  }

  /** `target` with host and port replaced by the proxy's. */
  url(target: string): string {
    const u = new URL(target);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  private accept(client: Socket, target: URL): void {
    const upstream = createConnection(Number(target.port || 5432), target.hostname);
    const c = { client, upstream, toServer: [] as Buffer[], toClient: [] as Buffer[], holdingAnswers: false };
    const conn = this.conns.push(c) - 1;
    for (const sock of [client, upstream]) {
      sock.on('error', () => {});
      sock.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      this.traffic.push({ seq: this.traffic.items.length, conn, dir: 'request', text, at: Date.now() });
      if (this.holdAnswersTo !== null && text.includes(this.holdAnswersTo)) c.holdingAnswers = true;
      if (this.holdRequestsOn) c.toServer.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      this.traffic.push({
        seq: this.traffic.items.length,
        conn,
        dir: 'response',
        text: chunk.toString('latin1'),
        at: Date.now(),
      });
      if (c.holdingAnswers) c.toClient.push(chunk);
      else client.write(chunk);
    });
  }

  holdRequests(): void {
    this.holdRequestsOn = true;
  }

  /** Holds the server's answers on every connection that sends a request containing `sql`. */
  holdAnswers(sql: string): void {
    this.holdAnswersTo = sql;
  }

  /** Stops holding and delivers everything held, in order. */
  release(): void {
    this.holdRequestsOn = false;
    this.holdAnswersTo = null;
    for (const c of this.conns) {
      c.holdingAnswers = false;
      for (const b of c.toServer.splice(0)) c.upstream.write(b);
      for (const b of c.toClient.splice(0)) c.client.write(b);
    }
  }

  /**
   * Resolves once a request containing `sql` (sent after `since`) was answered by the server —
   * the statement ran — whether or not the answer is held.
   */
  async answered(sql: string, since: number, timeoutMs = 5_000): Promise<void> {
    const req = await this.traffic.waitFor(
      (t) => t.dir === 'request' && t.at >= since && t.text.includes(sql),
      timeoutMs,
      `a request with ${sql}`,
    );
    await this.traffic.waitFor(
      (t) => t.dir === 'response' && t.conn === req.conn && t.seq > req.seq,
      timeoutMs,
      `the answer to ${sql}`,
    );
  }

  async close(): Promise<void> {
    for (const c of this.conns) {
      c.client.destroy();
      c.upstream.destroy();
    }
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}
