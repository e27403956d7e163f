/**
 * Responses as Mastodon's Express app writes them (spec §3.1, §3.5): the headers every response
 * carries, CORS preflight (`cors()` defaults), JSON errors, Express's default 404 page, and the
 * raw response that refuses a WebSocket upgrade (§4.1).
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ErrorSpec, publicError } from '@sluice/shared';

export const CACHE_CONTROL = 'private, no-store';

/** Express's `X-Powered-By` (kept for parity), pino-http's `X-Request-Id`, `cors()`'s origin. */
export function commonHeaders(res: ServerResponse, requestId: string): void {
  res.setHeader('X-Powered-By', 'Express');
  res.setHeader('X-Request-Id', requestId);
  res.setHeader('Access-Control-Allow-Origin', '*');
}

/** `cors()` answering any OPTIONS request: 204, methods, echoed request headers. */
export function preflight(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('Access-Control-Allow-Methods', 'GET,HEAD,PUT,PATCH,POST,DELETE');
  const requested = req.headers['access-control-request-headers'];
  res.setHeader('Vary', 'Access-Control-Request-Headers');
  if (requested) res.setHeader('Access-Control-Allow-Headers', requested);
  res.statusCode = 204;
  res.setHeader('Content-Length', '0');
  res.end();
}

/** `{"error":"<message>"}` with the error's status (returned); anything unknown is a 500. */
export function sendError(res: ServerResponse, err: unknown): number {
  const e = publicError(err);
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return e.status;
  }
  sendErrorSpec(res, e.status, e.message);
  return e.status;
}

export function sendErrorSpec(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ error: message }));
}

export function sendSpec(res: ServerResponse, spec: ErrorSpec): void {
  sendErrorSpec(res, spec.status, spec.message);
}

export function sendText(res: ServerResponse, status: number, body: string, cacheControl = true): void {
  const headers: Record<string, string> = { 'Content-Type': 'text/plain' };
  if (cacheControl) headers['Cache-Control'] = CACHE_CONTROL;
  res.writeHead(status, headers);
  res.end(body);
}

/** Express's final handler for a method no route takes (`Cannot POST /api/v1/streaming/user`). */
export function expressNotFound(req: IncomingMessage, res: ServerResponse, path: string): void {
  const message = escapeHtml(`Cannot ${req.method} ${encodeURI(decodeSafe(path))}`);
  const body = `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>${message}</pre>\n</body>\n</html>\n`;
  res.writeHead(404, {
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The raw refusal of an upgrade (spec §4.1): no CORS headers, empty body, socket closed. */
export function refuseUpgrade(socket: Duplex, requestId: string, status: number, message: string): void {
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain',
    'Content-Length: 0',
    `X-Request-Id: ${requestId}`,
    `X-Error-Message: ${message}`,
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${headers.join('\r\n')}\r\n\r\n`);
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`,
  );
}

function decodeSafe(s: string): string {
  try {
    return decodeURI(s);
  } catch {
    return s;
  }
}
