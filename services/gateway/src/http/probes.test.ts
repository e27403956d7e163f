import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../metrics.js';
import { memoryLogger } from '../testing.js';
import { Probes } from './probes.js';

let server: http.Server | undefined;
afterEach(() => {
  server?.close();
});

async function serve(state: { draining: boolean; bus: boolean }) {
  const probes = new Probes(
    { isDraining: () => state.draining, isBusConnected: () => state.bus },
    new GatewayMetrics({ defaultMetrics: false }).registry,
    memoryLogger().logger,
  );
  server = http.createServer((req, res) => {
    if (req.url === '/health') probes.health(res);
    else if (req.url === '/readyz') probes.readyz(res);
    else probes.livez(res);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return [res.status, await res.text()];
  };
}

describe('http - probes', () => {
  it('health and readyz turn 503 while draining; readyz also while NATS is away; livez stays up', async () => {
    const state = { draining: false, bus: true };
    const get = await serve(state);
    expect(await get('/health')).toEqual([200, 'OK']);
    expect(await get('/readyz')).toEqual([200, 'OK']);
    state.bus = false;
    expect(await get('/health')).toEqual([200, 'OK']);
    expect((await get('/readyz'))[0]).toBe(503);
    state.bus = true;
    state.draining = true;
    expect(await get('/health')).toEqual([503, 'Server is shutting down']);
    expect((await get('/readyz'))[0]).toBe(503);
    expect(await get('/livez')).toEqual([200, 'OK']);
  });
});
