/**
 * Health, liveness, readiness and metrics. Mastodon's health answers `OK` with no checks; ours
 * also turns 503 while draining, so a load balancer stops sending new clients (DESIGN decision
 * 11). `/readyz` is 503 while draining or while NATS is away; `/livez` is the process alone.
 */
import type { ServerResponse } from 'node:http';
import { Errors, type Logger } from '@sluice/shared';
import type { Registry } from 'prom-client';
import { CACHE_CONTROL, sendText } from './respond.js';

export interface ProbeState {
  isDraining(): boolean;
  isBusConnected(): boolean;
}

export class Probes {
  constructor(
    private readonly state: ProbeState,
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  health(res: ServerResponse): void {
    if (this.state.isDraining()) sendText(res, 503, Errors.Draining.message);
    else sendText(res, 200, 'OK');
  }

  livez(res: ServerResponse): void {
    sendText(res, 200, 'OK');
  }

  readyz(res: ServerResponse): void {
    if (this.state.isDraining()) sendText(res, 503, 'draining');
    else if (!this.state.isBusConnected()) sendText(res, 503, 'NATS unavailable');
    else sendText(res, 200, 'OK');
  }

  metrics(res: ServerResponse): void {
    this.registry.metrics().then(
      (output) => {
        res.setHeader('Content-Type', this.registry.contentType);
        res.setHeader('Cache-Control', CACHE_CONTROL);
        res.end(output);
      },
      (err: unknown) => {
        this.logger.error({ err }, 'Error collecting metrics');
        res.setHeader('Cache-Control', CACHE_CONTROL);
        res.statusCode = 500;
        res.end();
      },
    );
  }

  favicon(res: ServerResponse): void {
    res.statusCode = 404;
    res.end();
  }
}
