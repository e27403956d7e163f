/**
 * One streaming client: WebSocket with `?stream=` (token in `access_token`), WebSocket with a
 * `subscribe` message (token in `Sec-WebSocket-Protocol`), or SSE over `node:http` (token in
 * `Authorization: Bearer`). A client keeps only counters, a bitset of the payload seqs it
 * received, and its socket; it hands every marker it sees to `onMark`.
 */
import { type ClientRequest, request } from 'node:http';
import WebSocket from 'ws';
import { type MarkerScanner, StreamScanner } from '../measure/marker.js';
import { nowUs } from '../publish/status.js';
import type { ClientSpec } from './protocol.js';

export type ClientState = 'idle' | 'connecting' | 'open' | 'failed' | 'closed';

export interface ClientEvents {
  onOpen(c: Client): void;
  onFail(c: Client, reason: string): void;
  onClose(c: Client, reason: string): void;
  onMark(c: Client, kind: number, seq: number, tsUs: number): void;
  onOther(c: Client, data: Buffer): void;
}

export class Client {
  state: ClientState = 'idle';
  startUs = 0;
  connectUs = 0;
  warmed = false;
  openAtPublish = false;
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  lastSeq = 0;
  maxLatencyUs = 0;
  bits: Uint8Array | null = null;
  note: string | undefined;
  private ws: WebSocket | null = null;
  private req: ClientRequest | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly spec: ClientSpec) {}

  /** Marks `seq` received; false if it already was. */
  see(seq: number): boolean {
    const byte = seq >>> 3;
    if (!this.bits || this.bits.length <= byte) {
      const grown = new Uint8Array(Math.max(64, (byte + 1) * 2));
      if (this.bits) grown.set(this.bits);
      this.bits = grown;
    }
    const m = 1 << (seq & 7);
    if (this.bits[byte]! & m) return false;
    this.bits[byte]! |= m;
    return true;
  }

  has(seq: number): boolean {
    const byte = seq >>> 3;
    return !!this.bits && byte < this.bits.length && (this.bits[byte]! & (1 << (seq & 7))) !== 0;
  }

  connect(scanner: MarkerScanner, ev: ClientEvents, timeoutMs: number): void {
    this.state = 'connecting';
    this.startUs = nowUs();
    this.timer = setTimeout(() => this.fail(ev, 'timeout'), timeoutMs);
    if (this.spec.transport === 'sse') this.connectSse(scanner, ev);
    else this.connectWs(scanner, ev);
  }

  private opened(ev: ClientEvents): void {
    if (this.state !== 'connecting') return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state = 'open';
    this.connectUs = nowUs() - this.startUs;
    ev.onOpen(this);
  }

  private fail(ev: ClientEvents, reason: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.state === 'connecting') {
      this.state = 'failed';
      this.note = reason;
      this.destroy();
      ev.onFail(this, reason);
    } else if (this.state === 'open') {
      this.state = 'closed';
      this.note = reason;
      this.destroy();
      ev.onClose(this, reason);
    }
  }

  private connectWs(scanner: MarkerScanner, ev: ClientEvents): void {
    const s = this.spec;
    const base = `ws://127.0.0.1:${s.port}/api/v1/streaming`;
    const query = s.transport === 'ws-query';
    let url = base;
    if (query) {
      url += `?stream=${encodeURIComponent(s.stream)}&access_token=${encodeURIComponent(s.token)}`;
      if (s.tag !== undefined) url += `&tag=${encodeURIComponent(s.tag)}`;
    }
    const ws = new WebSocket(url, query ? undefined : [s.token], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      ...(s.localAddress ? { localAddress: s.localAddress } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      if (!query) {
        const msg: Record<string, string> = { type: 'subscribe', stream: s.stream };
        if (s.tag !== undefined) msg['tag'] = s.tag;
        ws.send(JSON.stringify(msg));
      }
      this.opened(ev);
    });
    ws.on('unexpected-response', (req, res) => {
      const status = res.statusCode ?? 0;
      const why = res.headers['x-error-message'];
      res.resume();
      req.destroy();
      this.fail(ev, `http_${status}${why ? ` ${String(why)}` : ''}`);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      let found = false;
      scanner.scan(data, (kind, seq, ts) => {
        found = true;
        ev.onMark(this, kind, seq, ts);
      });
      if (!found || isBinary) ev.onOther(this, data);
    });
    ws.on('error', (err: NodeJS.ErrnoException) => this.fail(ev, err.code ?? err.message.slice(0, 60)));
    ws.on('close', (code: number) => this.fail(ev, `ws_close_${code}`));
  }

  private connectSse(scanner: MarkerScanner, ev: ClientEvents): void {
    const s = this.spec;
    let path = '/api/v1/streaming/';
    if (s.stream === 'user') path += 'user';
    else if (s.stream === 'public') path += 'public';
    else if (s.stream === 'public:local') path += 'public/local';
    else path += `hashtag?tag=${encodeURIComponent(s.tag ?? '')}`;
    const req = request({
      host: '127.0.0.1',
      port: s.port,
      path,
      method: 'GET',
      agent: false,
      headers: { Authorization: `Bearer ${s.token}`, Accept: 'text/event-stream' },
      ...(s.localAddress ? { localAddress: s.localAddress } : {}),
    });
    this.req = req;
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.fail(ev, `http_${res.statusCode}`);
        return;
      }
      const stream = new StreamScanner(scanner);
      const onMark = (kind: number, seq: number, ts: number) => ev.onMark(this, kind, seq, ts);
      res.on('data', (chunk: Buffer) => stream.push(chunk, onMark));
      res.on('end', () => this.fail(ev, 'sse_end'));
      res.on('error', (err: NodeJS.ErrnoException) => this.fail(ev, err.code ?? 'sse_error'));
      this.opened(ev);
    });
    req.on('error', (err: NodeJS.ErrnoException) => this.fail(ev, err.code ?? err.message.slice(0, 60)));
    req.on('close', () => this.fail(ev, 'sse_closed'));
    req.end();
  }

  private destroy(): void {
    if (this.ws) {
      this.ws.removeAllListeners();
      this.ws.on('error', () => {});
      this.ws.terminate();
      this.ws = null;
    }
    if (this.req) {
      this.req.removeAllListeners();
      this.req.on('error', () => {});
      this.req.destroy();
      this.req = null;
    }
  }

  /** Closes without reporting (end of run). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.state === 'open' || this.state === 'connecting') this.state = 'closed';
    this.destroy();
  }
}
