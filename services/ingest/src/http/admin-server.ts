import { createServer, type Server } from 'node:http';
import type { Logger } from '@sluice/shared';
import type { Registry } from 'prom-client';

export interface HealthState {
  ok: boolean;
  [k: string]: unknown;
}

/** `/health` (ready), `/livez` (alive) and `/metrics` for ingest. */
export function createAdminServer(opts: {
  registry: Registry;
  health: () => HealthState;
  log: Logger;
}): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health' || path === '/readyz') {
      const state = opts.health();
      const body = JSON.stringify({ status: state.ok ? 'ok' : 'unavailable', ...state, ok: undefined });
      res.writeHead(state.ok ? 200 : 503, {
        'Content-Type': 'application/json',
        'Cache-Control': 'private, no-store',
      });
      res.end(body);
      return;
    }
    if (path === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, {
            'Content-Type': opts.registry.contentType,
            'Cache-Control': 'private, no-store',
          });
          res.end(text);
        },
        (err: unknown) => {
          opts.log.error({ err }, 'Error collecting metrics');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"Not found"}');
  });
}
