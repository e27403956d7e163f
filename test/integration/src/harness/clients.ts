/**
 * Real streaming clients for the end-to-end tests: a WebSocket client (the `ws` package, as
 * Mastodon's own clients and tests use) and a Server-Sent Events client over raw `node:http`.
 * Both record everything they see (status, headers, frames or raw bytes, close/end) and are
 * event-driven: every wait is a promise that resolves on the matching event or rejects after a
 * bounded timeout with a description of what was seen. No fixed sleeps.
 *
 * `StuckClient` is a raw TCP client that never reads, with a tiny receive window (a short Python
 * helper sets SO_RCVBUF and TCP_MAXSEG, which Node cannot), so a gateway's send buffer for it
 * fills after tens of kilobytes instead of the megabytes the kernel would otherwise absorb.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http, { type IncomingHttpHeaders } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import WebSocket from 'ws';
import { WaitTimeoutError } from './wait.js';

export { WaitTimeoutError };

export const DEFAULT_HOST = '127.0.0.1';
export const STREAMING_PATH = '/api/v1/streaming';

/** How a client presents its access token (spec §5.1). */
export type TokenSource = 'header' | 'query' | 'protocol' | 'none';

// ------------------------------------------------------------------ recorder

interface Waiter<T> {
  pred: (item: T) => boolean;
  resolve: (item: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * An append-only list of observations with promise-based waits. `waitFor` first scans what was
 * already recorded (newest first), then resolves on the first matching item pushed later.
 */
export class Recorder<T> {
  readonly items: T[] = [];
  private readonly waiters = new Set<Waiter<T>>();
  private failure: Error | null = null;

  constructor(private readonly describe: (item: T) => string = (i) => JSON.stringify(i)) {}

  push(item: T): void {
    this.items.push(item);
    for (const w of this.waiters) {
      if (w.pred(item)) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(item);
      }
    }
  }

  /** Makes pending and future waits fail at once (e.g. the connection ended). */
  fail(err: Error): void {
    this.failure = err;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  filter(pred: (item: T) => boolean): T[] {
    return this.items.filter(pred);
  }

  waitFor(pred: (item: T) => boolean, timeoutMs: number, what = 'a matching item'): Promise<T> {
    // Newest first: waits usually look for something recent.
    const found = this.items.findLast(pred);
    if (found !== undefined) return Promise.resolve(found);
    if (this.failure) {
      return Promise.reject(new Error(`${what}: ${this.failure.message}; seen: ${this.tail()}`));
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T> = {
        pred,
        resolve,
        reject: (err) => reject(new Error(`${what}: ${err.message}; seen: ${this.tail()}`)),
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(
            new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}; seen: ${this.tail()}`),
          );
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Waits until `count` items match. */
  async waitForCount(
    pred: (item: T) => boolean,
    count: number,
    timeoutMs: number,
    what = 'items',
  ): Promise<T[]> {
    let n = 0;
    const matches: T[] = [];
    await this.waitFor(
      (item) => {
        if (pred(item)) {
          n++;
          matches.push(item);
        }
        return n >= count;
      },
      timeoutMs,
      `${count} × ${what}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message} (got ${n})`);
    });
    return matches;
  }

  private tail(): string {
    const last = this.items.slice(-5).map(this.describe);
    return `${this.items.length} item(s)${last.length ? ', last: ' + last.join(' | ') : ''}`.slice(0, 2000);
  }
}

function buildPath(path: string, query: Record<string, string | string[] | undefined> | undefined): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) qs.append(k, one);
  }
  const s = qs.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

// ------------------------------------------------------------------ registry

const openClients = new Set<{ terminate(): void }>();

/** Drops every client connection still open (for after-test clean-up). */
export function closeAllClients(): void {
  for (const c of openClients) c.terminate();
  openClients.clear();
}

// ------------------------------------------------------------------ WebSocket

export interface WsOptions {
  port: number;
  host?: string;
  /** Connect over this UNIX socket instead of TCP (the gateway's `SOCKET`). */
  socketPath?: string;
  /** Request path, may include a query string. Default `/api/v1/streaming`. */
  path?: string;
  query?: Record<string, string | string[] | undefined>;
  token?: string;
  /** Where the token goes; default `header` (Authorization: Bearer). */
  via?: TokenSource;
  headers?: Record<string, string>;
  /** Offered subprotocols (in addition to / instead of the token with via=`protocol`). */
  protocols?: string[];
  /** Answer server pings (default true, like browsers). */
  autoPong?: boolean;
  timeoutMs?: number;
}

/** One frame from the server. `json` is the parsed object, or undefined if it was not JSON. */
export interface WsFrame {
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: test code inspects arbitrary frames
  json: any;
  at: number;
}

/** A delivered event frame: `{"stream":[…],"event":…,"payload":"…"}`. */
export interface WsEvent {
  stream: unknown[];
  event: string;
  payload: unknown;
  raw: string;
  at: number;
}

export interface WsClose {
  code: number;
  reason: string;
  at: number;
}

export interface WsRejected {
  ok: false;
  /** HTTP status of a refused upgrade, or 0 when no response arrived (connection error). */
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  error?: Error;
}

export type WsAttempt = { ok: true; client: WsClient } | WsRejected;

export class WsUpgradeRejected extends Error {
  override readonly name = 'WsUpgradeRejected';
  constructor(readonly result: WsRejected) {
    super(
      `WebSocket upgrade refused: status ${result.status}` +
        (result.headers['x-error-message'] ? ` (${String(result.headers['x-error-message'])})` : '') +
        (result.error ? ` — ${result.error.message}` : ''),
    );
  }
}

export class WsClient {
  readonly frames = new Recorder<WsFrame>((f) => f.raw.slice(0, 300));
  readonly pings = new Recorder<number>(String);
  readonly closes = new Recorder<WsClose>((c) => `${c.code} ${c.reason}`);
  /** Status and headers of the 101 response. */
  status = 0;
  headers: IncomingHttpHeaders = {};
  closed: WsClose | null = null;
  readonly openedAt = Date.now();

  private constructor(readonly ws: WebSocket) {
    openClients.add(this);
    ws.on('message', (data, isBinary) => {
      const raw = isBinary ? `<binary ${(data as Buffer).length} bytes>` : data.toString();
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      this.frames.push({ raw, json, at: Date.now() });
    });
    ws.on('ping', () => this.pings.push(Date.now()));
    ws.on('close', (code, reason) => {
      openClients.delete(this);
      this.closed = { code, reason: reason.toString(), at: Date.now() };
      this.closes.push(this.closed);
      const err = new Error(`socket closed (${code}${this.closed.reason ? ' ' + this.closed.reason : ''})`);
      this.frames.fail(err);
      this.pings.fail(err);
    });
    ws.on('error', () => {
      // Recorded through 'close' (ws always emits close after error).
    });
  }

  /** Attempts a connection; never throws for a refused upgrade, returns what the server answered. */
  static attempt(opts: WsOptions): Promise<WsAttempt> {
    const via = opts.via ?? (opts.token === undefined ? 'none' : 'header');
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const query = { ...(opts.query ?? {}) };
    let protocols = opts.protocols ? [...opts.protocols] : [];
    if (opts.token !== undefined) {
      if (via === 'header') headers['Authorization'] = `Bearer ${opts.token}`;
      else if (via === 'query') query['access_token'] = opts.token;
      else if (via === 'protocol') protocols = [opts.token, ...protocols];
    }
    const target = buildPath(opts.path ?? STREAMING_PATH, query);
    const url = opts.socketPath
      ? `ws+unix://${opts.socketPath}:${target}`
      : `ws://${opts.host ?? DEFAULT_HOST}:${opts.port}${target}`;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<WsAttempt>((resolve) => {
      let settled = false;
      const done = (r: WsAttempt) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const ws = new WebSocket(url, protocols, {
        headers,
        perMessageDeflate: false,
        autoPong: opts.autoPong ?? true,
        handshakeTimeout: timeoutMs,
      });
      const client = new WsClient(ws);
      const timer = setTimeout(() => {
        ws.terminate();
        done({
          ok: false,
          status: 0,
          headers: {},
          rawHeaders: [],
          body: '',
          error: new Error('handshake timeout'),
        });
      }, timeoutMs + 500);
      ws.on('upgrade', (res) => {
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
      });
      ws.on('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        const finish = () => {
          done({
            ok: false,
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          });
          req.destroy();
        };
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      });
      ws.once('open', () => done({ ok: true, client }));
      ws.once('error', (err) =>
        done({ ok: false, status: 0, headers: {}, rawHeaders: [], body: '', error: err }),
      );
    });
  }

  /** Connects and resolves once open; throws {@link WsUpgradeRejected} otherwise. */
  static async connect(opts: WsOptions): Promise<WsClient> {
    const r = await WsClient.attempt(opts);
    if (!r.ok) throw new WsUpgradeRejected(r);
    return r.client;
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  subscribe(stream: string | unknown, params: Record<string, unknown> = {}): void {
    this.send({ type: 'subscribe', stream, ...params });
  }

  unsubscribe(stream: string | unknown, params: Record<string, unknown> = {}): void {
    this.send({ type: 'unsubscribe', stream, ...params });
  }

  /** Delivered events so far (frames with `stream` and `event`). */
  events(pred: (e: WsEvent) => boolean = () => true): WsEvent[] {
    return this.frames.items.map(toWsEvent).filter((e): e is WsEvent => e !== null && pred(e));
  }

  /** Error frames so far (`{"error":…}`). */
  errors(): WsFrame[] {
    return this.frames.filter((f) => f.json && typeof f.json === 'object' && 'error' in f.json);
  }

  waitForMessage(
    pred: (f: WsFrame) => boolean,
    timeoutMs = 5_000,
    what = 'a matching frame',
  ): Promise<WsFrame> {
    return this.frames.waitFor(pred, timeoutMs, what);
  }

  async waitForEvent(
    pred: (e: WsEvent) => boolean,
    timeoutMs = 5_000,
    what = 'a matching event',
  ): Promise<WsEvent> {
    const f = await this.frames.waitFor(
      (frame) => {
        const e = toWsEvent(frame);
        return e !== null && pred(e);
      },
      timeoutMs,
      what,
    );
    return toWsEvent(f)!;
  }

  /** Waits until `count` events match; returns them. */
  async waitForEvents(
    pred: (e: WsEvent) => boolean,
    count: number,
    timeoutMs = 5_000,
    what = 'events',
  ): Promise<WsEvent[]> {
    const frames = await this.frames.waitForCount(
      (f) => {
        const e = toWsEvent(f);
        return e !== null && pred(e);
      },
      count,
      timeoutMs,
      what,
    );
    return frames.map((f) => toWsEvent(f)!);
  }

  waitForError(timeoutMs = 5_000, pred: (json: { error: string; status?: number }) => boolean = () => true) {
    return this.frames
      .waitFor(
        (f) => f.json && typeof f.json === 'object' && 'error' in f.json && pred(f.json),
        timeoutMs,
        'an error frame',
      )
      .then((f) => f.json as { error: string; status?: number });
  }

  waitForClose(timeoutMs = 5_000): Promise<WsClose> {
    if (this.closed) return Promise.resolve(this.closed);
    return this.closes.waitFor(() => true, timeoutMs, 'the socket to close');
  }

  waitForPings(count: number, timeoutMs = 5_000): Promise<number[]> {
    return this.pings.waitForCount(() => true, count, timeoutMs, 'pings');
  }

  /** Closes (normal closure) and waits for the close handshake, bounded. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.closed) return;
    if (this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.terminate();
    } else {
      this.ws.close(1000);
    }
    await this.waitForClose(timeoutMs).catch(() => this.ws.terminate());
  }

  terminate(): void {
    this.ws.terminate();
  }
}

function toWsEvent(f: WsFrame): WsEvent | null {
  const j = f.json;
  if (!j || typeof j !== 'object' || !Array.isArray(j.stream) || typeof j.event !== 'string') return null;
  return { stream: j.stream, event: j.event, payload: j.payload, raw: f.raw, at: f.at };
}

// ------------------------------------------------------------------ SSE

export interface SseOptions {
  port: number;
  host?: string;
  /** Connect over this UNIX socket instead of TCP. */
  socketPath?: string;
  /** Request path, may include a query string. */
  path: string;
  query?: Record<string, string | string[] | undefined>;
  token?: string;
  /** Where the token goes; default `header` (Authorization: Bearer). */
  via?: TokenSource;
  headers?: Record<string, string>;
  method?: string;
  lastEventId?: string;
  timeoutMs?: number;
  /** Keep the raw bytes for `text` (default true; load tests turn it off to save memory). */
  keepRaw?: boolean;
}

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
  at: number;
}

export type SseEnd = { how: 'complete' | 'aborted' | 'client'; at: number };

/**
 * An SSE client that parses the stream as a browser's EventSource would (fields `id`, `event`,
 * `data`; comments recorded separately) and keeps the raw bytes for framing assertions.
 * Non-200 responses are recorded too (status, headers, body) — no reconnects.
 */
export class SseClient {
  status = 0;
  headers: IncomingHttpHeaders = {};
  rawHeaders: string[] = [];
  readonly chunks: Buffer[] = [];
  readonly events = new Recorder<SseEvent>((e) => `${e.id ?? ''} ${e.event} ${e.data.slice(0, 200)}`);
  readonly comments = new Recorder<{ text: string; at: number }>((c) => c.text);
  readonly ends = new Recorder<SseEnd>((e) => e.how);
  ended: SseEnd | null = null;
  /** The id of the last event received (what a browser would send as Last-Event-ID). */
  lastEventId: string | undefined;

  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private fieldEvent = '';
  private fieldData: string[] = [];
  private fieldId: string | undefined;
  private req: http.ClientRequest | null = null;
  private res: http.IncomingMessage | null = null;
  private closedByClient = false;
  private keepRaw = true;

  /** Sends the request and resolves once the response headers arrived (any status). */
  static open(opts: SseOptions): Promise<SseClient> {
    const c = new SseClient();
    openClients.add(c);
    return c.start(opts).then(
      () => c,
      (err) => {
        openClients.delete(c);
        throw err;
      },
    );
  }

  private start(opts: SseOptions): Promise<void> {
    const via = opts.via ?? (opts.token === undefined ? 'none' : 'header');
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...(opts.headers ?? {}) };
    const query = { ...(opts.query ?? {}) };
    if (opts.token !== undefined) {
      if (via === 'header') headers['Authorization'] = `Bearer ${opts.token}`;
      else if (via === 'query') query['access_token'] = opts.token;
      else if (via === 'protocol') headers['Sec-WebSocket-Protocol'] = opts.token;
    }
    if (opts.lastEventId !== undefined) headers['Last-Event-ID'] = opts.lastEventId;
    this.keepRaw = opts.keepRaw ?? true;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        req.destroy(new Error('response headers timeout'));
      }, timeoutMs);
      const req = http.request(
        {
          ...(opts.socketPath
            ? { socketPath: opts.socketPath }
            : { host: opts.host ?? DEFAULT_HOST, port: opts.port }),
          method: opts.method ?? 'GET',
          path: buildPath(opts.path, query),
          headers,
          agent: false,
        },
        (res) => {
          clearTimeout(timer);
          this.res = res;
          this.status = res.statusCode ?? 0;
          this.headers = res.headers;
          this.rawHeaders = res.rawHeaders;
          res.on('data', (chunk: Buffer) => this.onData(chunk));
          res.on('close', () => {
            openClients.delete(this);
            const how: SseEnd['how'] = this.closedByClient ? 'client' : res.complete ? 'complete' : 'aborted';
            this.ended = { how, at: Date.now() };
            this.ends.push(this.ended);
            const err = new Error(`stream ended (${how})`);
            this.events.fail(err);
            this.comments.fail(err);
          });
          res.on('error', () => {
            // 'close' follows and records how the stream ended.
          });
          resolve();
        },
      );
      this.req = req;
      req.on('error', (err) => {
        clearTimeout(timer);
        if (!this.res) reject(err);
      });
      req.end();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.keepRaw || this.status !== 200) this.chunks.push(chunk);
    this.buffer += this.decoder.write(chunk);
    let nl = this.buffer.indexOf('\n');
    while (nl >= 0) {
      let line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.onLine(line);
      nl = this.buffer.indexOf('\n');
    }
  }

  private onLine(line: string): void {
    if (line === '') {
      if (this.fieldData.length > 0) {
        const ev: SseEvent = {
          id: this.fieldId,
          event: this.fieldEvent || 'message',
          data: this.fieldData.join('\n'),
          at: Date.now(),
        };
        if (this.fieldId !== undefined) this.lastEventId = this.fieldId;
        this.events.push(ev);
      }
      this.fieldEvent = '';
      this.fieldData = [];
      this.fieldId = undefined;
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push({ text: line.slice(1), at: Date.now() });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.fieldEvent = value;
    else if (field === 'data') this.fieldData.push(value);
    else if (field === 'id') this.fieldId = value;
  }

  /** Everything received so far, as text. */
  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** The body parsed as JSON (for error responses; waits for the end of the body). */
  // biome-ignore lint/suspicious/noExplicitAny: test code inspects arbitrary bodies
  async json(timeoutMs = 5_000): Promise<any> {
    await this.waitForEnd(timeoutMs);
    return JSON.parse(this.text);
  }

  async body(timeoutMs = 5_000): Promise<string> {
    await this.waitForEnd(timeoutMs);
    return this.text;
  }

  waitForEvent(
    pred: (e: SseEvent) => boolean,
    timeoutMs = 5_000,
    what = 'a matching event',
  ): Promise<SseEvent> {
    return this.events.waitFor(pred, timeoutMs, what);
  }

  waitForComment(text: string, timeoutMs = 5_000, count = 1): Promise<unknown> {
    return this.comments.waitForCount((c) => c.text === text, count, timeoutMs, `comment ":${text}"`);
  }

  waitForEnd(timeoutMs = 5_000): Promise<SseEnd> {
    if (this.ended) return Promise.resolve(this.ended);
    return this.ends.waitFor(() => true, timeoutMs, 'the stream to end');
  }

  /** Stops reading (TCP back-pressure builds up) / resumes. */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  terminate(): void {
    this.close();
  }

  /** Closes the connection from the client side (like a browser navigating away). */
  close(): void {
    if (this.ended) return;
    this.closedByClient = true;
    this.req?.destroy();
    this.res?.destroy();
  }
}

// ------------------------------------------------------------------ plain HTTP

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** A plain HTTP request that reads the whole (finite) response. */
export function httpRequest(opts: {
  port: number;
  host?: string;
  socketPath?: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve, reject) => {
    const req = http.request(
      {
        ...(opts.socketPath
          ? { socketPath: opts.socketPath }
          : { host: opts.host ?? DEFAULT_HOST, port: opts.port }),
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`HTTP ${opts.path} timed out`)),
      opts.timeoutMs ?? 5_000,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

// ------------------------------------------------------------------ stuck client

const STUCK_CLIENT_PY = `
import base64, select, socket, sys
host, port, request = sys.argv[1], int(sys.argv[2]), base64.b64decode(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
s.connect((host, port))
s.sendall(request)
print("sent", flush=True)
# Never read until told to; then read everything up to EOF and report how it ended.
sys.stdin.readline()
s.setblocking(True)
s.settimeout(float(sys.argv[4]))
total = 0
how = "eof"
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        total += len(b)
except socket.timeout:
    how = "timeout"
except ConnectionResetError:
    how = "reset"
print(how, total, flush=True)
`;

/**
 * A client that sends one HTTP request (SSE, or a WebSocket upgrade) and then never reads,
 * with a receive window of about a kilobyte, so the server's send buffer for it fills quickly.
 * `drain()` then reads everything the server had sent and reports whether the server closed the
 * connection (EOF/reset) and how many bytes got through.
 */
export class StuckClient {
  private readonly lines = new Recorder<string>((l) => l);

  private constructor(private readonly proc: ChildProcess) {
    openClients.add({ terminate: () => this.kill() });
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
    });
    proc.stderr?.on('data', (d: Buffer) => this.lines.push(`stderr: ${d.toString().trim()}`));
    proc.on('exit', (code) => this.lines.push(`exit ${code}`));
  }

  static async open(opts: {
    port: number;
    host?: string;
    path: string;
    query?: Record<string, string | undefined>;
    token: string;
    readTimeoutSeconds?: number;
  }): Promise<StuckClient> {
    const host = opts.host ?? DEFAULT_HOST;
    const request =
      `GET ${buildPath(opts.path, opts.query)} HTTP/1.1\r\n` +
      `Host: ${host}:${opts.port}\r\nAccept: text/event-stream\r\n` +
      `Authorization: Bearer ${opts.token}\r\n\r\n`;
    const proc = spawn(
      'python3',
      [
        '-c',
        STUCK_CLIENT_PY,
        host,
        String(opts.port),
        Buffer.from(request).toString('base64'),
        String(opts.readTimeoutSeconds ?? 5),
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const c = new StuckClient(proc);
    const first = await c.lines.waitFor(() => true, 10_000, 'the stuck client to connect');
    if (first !== 'sent') throw new Error(`stuck client failed: ${first}`);
    return c;
  }

  /** Starts reading; resolves with how the stream ended (`eof`, `reset` or `timeout`) and the bytes read. */
  async drain(timeoutMs = 15_000): Promise<{ how: string; bytes: number }> {
    this.proc.stdin?.write('go\n');
    const line = await this.lines.waitFor(
      (l) => /^(eof|reset|timeout) /.test(l) || l.startsWith('exit'),
      timeoutMs,
      'the stuck client to finish reading',
    );
    const [how, bytes] = line.split(' ');
    return { how: how ?? '', bytes: Number(bytes) };
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

/** Whether python3 (needed by {@link StuckClient}) can be run. */
export function hasPython3(): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('python3', ['-c', 'import socket; socket.TCP_MAXSEG'], { stdio: 'ignore' });
    p.on('error', () => resolve(false));
    p.on('exit', (code) => resolve(code === 0));
  });
}

// ------------------------------------------------------------------ batches

/** Runs `fn` over `items` with at most `concurrency` in flight (for opening thousands of clients). */
export async function inBatches<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}
