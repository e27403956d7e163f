/**
 * Request logging in pino-http's shape (spec §10): one line per request when it completes (for
 * SSE, when the stream closes), with `req`, `res` and `responseTime`; tokens never logged
 * (shared `serializeRequest` redacts the URL, the logger redacts the headers). The client
 * address honours `TRUSTED_PROXY_IP` like Express's `trust proxy`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Logger } from '@sluice/shared';
import type { RequestContext } from './routes.js';

const NAMED: Record<string, [string, number, 'ipv4' | 'ipv6'][]> = {
  loopback: [
    ['127.0.0.1', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  linklocal: [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  uniquelocal: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['fc00::', 7, 'ipv6'],
  ],
};

/** `TRUSTED_PROXY_IP` entries: `loopback`, `linklocal`, `uniquelocal`, addresses, `addr/bits`. */
export function trustedProxies(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const named = NAMED[entry];
    if (named) {
      for (const [net, bits, type] of named) list.addSubnet(net, bits, type);
      continue;
    }
    const [addr, bits] = entry.split('/');
    if (!addr) continue;
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : null;
    if (!type) continue;
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return list;
}

function trusted(list: BlockList, addr: string): boolean {
  const plain = addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
  const type = isIPv4(plain) ? 'ipv4' : isIPv6(plain) ? 'ipv6' : null;
  return type !== null && list.check(plain, type);
}

/** The client address: walk `X-Forwarded-For` from the right while hops are trusted proxies. */
export function clientAddress(req: IncomingMessage, proxies: BlockList): string | undefined {
  let addr = req.socket.remoteAddress;
  const xff = req.headers['x-forwarded-for'];
  if (!addr || !xff) return addr;
  const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((s) => s.trim());
  while (addr && trusted(proxies, addr) && hops.length > 0) addr = hops.pop();
  return addr;
}

export class RequestLog {
  constructor(
    private readonly logger: Logger,
    private readonly proxies: BlockList,
  ) {}

  /** Input for the logger's `req` serializer (shared `serializeRequest`, which redacts the URL). */
  serialize(req: IncomingMessage, ctx: { requestId: string }): Record<string, unknown> {
    return {
      id: ctx.requestId,
      method: req.method,
      url: req.url,
      headers: req.headers,
      socket: { remoteAddress: clientAddress(req, this.proxies), remotePort: req.socket.remotePort },
    };
  }

  /** Logs once when the response finishes or the connection closes. */
  attach(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    const done = () => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      this.pending.delete(res);
      this.write(this.entry(req, res, ctx), res.statusCode, res.writableFinished);
    };
    this.pending.set(res, { req, ctx, done });
    res.on('finish', done);
    res.on('close', done);
  }

  /**
   * The response is leaving `node:http` (an SSE stream detached by the stream door): what the
   * line will say is taken now, and the returned function writes it when the stream ends,
   * `completed` when the server ended it. Until then only that small record is kept, not the
   * request and response.
   */
  handOver(res: ServerResponse): (completed: boolean) => void {
    const pending = this.pending.get(res);
    if (!pending) return () => {};
    this.pending.delete(res);
    res.removeListener('finish', pending.done);
    res.removeListener('close', pending.done);
    const entry = this.entry(pending.req, res, pending.ctx);
    const status = res.statusCode;
    const startedAt = pending.ctx.startedAt;
    return (completed) => {
      entry.responseTime = Math.round(performance.now() - startedAt);
      this.write(entry, status, completed);
    };
  }

  private readonly pending = new WeakMap<ServerResponse, Pending>();

  private entry(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): LogEntry {
    return {
      req: this.serialize(req, ctx),
      res: { statusCode: res.statusCode, headers: res.getHeaders() },
      responseTime: Math.round(performance.now() - ctx.startedAt),
    };
  }

  private write(entry: LogEntry, status: number, finished: boolean): void {
    if (status >= 500) this.logger.error(entry, 'request errored');
    else if (!finished) this.logger.info(entry, 'request aborted');
    else this.logger.info(entry, 'request completed');
  }
}

interface Pending {
  req: IncomingMessage;
  ctx: RequestContext;
  done: () => void;
}

interface LogEntry {
  req: Record<string, unknown>;
  res: { statusCode: number; headers: Record<string, unknown> };
  responseTime: number;
}
