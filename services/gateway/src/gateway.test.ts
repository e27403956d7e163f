import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway, waitUntil } from './testing.js';

let gw: TestGateway;
afterEach(async () => {
  await gw?.close();
});

const until = (cond: () => boolean, ms = 5000) => waitUntil(cond, ms);

function ws(protocol = 'tok-read') {
  const sock = new WebSocket(`ws://127.0.0.1:${gw.port}/api/v1/streaming?stream=public`, protocol);
  const state = { sock, count: 0, closed: null as { code: number; reason: string } | null, open: false };
  sock.on('open', () => {
    state.open = true;
  });
  sock.on('message', () => state.count++);
  sock.on('close', (code, reason) => {
    state.closed = { code, reason: reason.toString() };
  });
  sock.on('error', () => {});
  return state;
}

function sse(path = '/api/v1/streaming/public?access_token=tok-read') {
  const state = { body: '', ended: false, aborted: false };
  const req = http.get({ host: '127.0.0.1', port: gw.port, path }, (res) => {
    res.on('data', (d) => {
      state.body += d;
    });
    res.on('end', () => {
      state.ended = true;
    });
    res.on('aborted', () => {
      state.aborted = true;
    });
  });
  req.on('error', () => {});
  return state;
}

describe('gateway - slow clients', () => {
  it('disconnects a client that stopped reading, while the others receive everything', async () => {
    gw = await startTestGateway({ config: { sendBufferBytes: 2 * 1024 * 1024 } });
    const readers = Array.from({ length: 20 }, () => ws());
    const slow = ws();
    await until(() => readers.every((r) => r.open) && slow.open && gw.gateway.connections.size === 21);
    await until(() => gw.bus.subjects().includes('test.ev.public'));
    (slow.sock as unknown as { _socket: net.Socket })._socket.pause();
    const payload = JSON.stringify({ id: '1', content: 'x'.repeat(64 * 1024) });
    for (let i = 0; i < 300; i++) {
      gw.publish('timeline:public', 'update', payload, { 'Sluice-Local': '1' });
      // Clients share this process: yield after each event so readers can read (bursts larger
      // than the send buffer would make a reader look slow).
      await new Promise((r) => setImmediate(r));
    }
    await until(() => readers.every((r) => r.count === 300), 20_000);
    await until(() => gw.gateway.connections.size === 20);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('sluice_gateway_slow_client_disconnects_total{type="websocket"} 1');
    for (const r of readers) r.sock.close();
  }, 30_000);
});

describe('gateway - slow SSE clients', () => {
  it('destroys an SSE response that is not read; readers get every event of the same bursts', async () => {
    gw = await startTestGateway({ config: { sendBufferBytes: 2 * 1024 * 1024 } });
    const path = '/api/v1/streaming/public?access_token=tok-read';
    const slow = http.get({ host: '127.0.0.1', port: gw.port, path }, (res) => res.pause());
    slow.on('error', () => {});
    let got = 0;
    const reader = http.get({ host: '127.0.0.1', port: gw.port, path }, (res) =>
      res.on('data', (d: Buffer) => {
        got += (d.toString().match(/event: update/g) ?? []).length;
      }),
    );
    reader.on('error', () => {});
    await until(() => gw.gateway.connections.size === 2);
    const payload = JSON.stringify({ id: '1', content: 'x'.repeat(64 * 1024) });
    for (let i = 0; i < 300; i++) {
      gw.publish('timeline:public', 'update', payload, { 'Sluice-Local': '1' });
      // Clients share this process: yield after each event so readers can read (bursts larger
      // than the send buffer would make a reader look slow).
      await new Promise((r) => setImmediate(r));
    }
    await until(() => got === 300, 20_000);
    await until(() => gw.gateway.connections.size === 1);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain('sluice_gateway_slow_client_disconnects_total{type="eventsource"} 1');
    reader.destroy();
  }, 30_000);
});

describe('gateway - drain', () => {
  it('turns unready, refuses new clients, closes WebSockets with 1012 and ends SSE, spread over the window', async () => {
    gw = await startTestGateway({ config: { drainMs: 400 } });
    const sockets = Array.from({ length: 10 }, () => ws());
    const streams = Array.from({ length: 10 }, () => sse());
    await until(() => gw.gateway.connections.size === 20);
    const started = Date.now();
    const drained = gw.gateway.drain();
    expect(gw.gateway.isDraining).toBe(true);
    const late = ws();
    await drained;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(300);
    await until(() => sockets.every((s) => s.closed !== null) && streams.every((s) => s.ended));
    for (const s of sockets) expect(s.closed).toEqual({ code: 1012, reason: 'Server restarting' });
    expect(streams.every((s) => !s.aborted)).toBe(true);
    await until(() => late.closed !== null);
    expect(late.open).toBe(false);
    expect(gw.gateway.connections.size).toBe(0);
    expect(gw.gateway.server.listening).toBe(false);
  });
});
