/**
 * One trace per event, end to end (DESIGN decision 12): ingest and gateway export to a real
 * OTLP/HTTP endpoint started by this test (`POST /v1/traces`, JSON: what
 * `@opentelemetry/exporter-trace-otlp-http` sends), a client is subscribed, one event is
 * published into Redis like Rails does, and the receiver must hold one trace that spans
 * ingest → NATS → gateway delivery:
 *
 *   sluice-ingest   `sluice.ingest publish` (PRODUCER)  sluice.channel, sluice.event
 *     └ sluice-gateway  `gateway.deliver` (CONSUMER)   channel, event, recipients, dropped
 *
 * The child link crosses NATS in the W3C `traceparent` header (RePublish keeps it).
 * The test's own Redis namespace keeps other tests' and developers' events out of its traces.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { expect, it, onTestFinished } from 'vitest';
import { SseClient } from '../harness/clients.js';
import { testScope } from '../harness/env.js';
import { Fixtures, nextId } from '../harness/fixtures.js';
import { railsPublish, redisClient } from '../harness/redis.js';
import { type ServiceHandle, startService } from '../harness/service.js';
import { pollUntil } from '../harness/wait.js';

const CHANNEL = 'timeline:public:local';
const INGEST_SERVICE = 'sluice-ingest';
const GATEWAY_SERVICE = 'sluice-gateway';
/** OTLP SpanKind enum values. */
const KIND_PRODUCER = 4;
const KIND_CONSUMER = 5;

// ------------------------------------------------------------------ OTLP/HTTP receiver

type AttrValue = string | number | boolean | null | AttrValue[];

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, AttrValue>;
}

interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** `content-type` of every request, for the failure message when it is not JSON. */
  requests: { path: string; contentType: string; bytes: number }[];
  /** Bodies that could not be read as OTLP/JSON. */
  errors: string[];
  close(): Promise<void>;
}

interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}
interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpKeyValue[];
}
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

function attrValue(v: OtlpAnyValue | undefined): AttrValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(attrValue);
  return null;
}

function attributes(list: OtlpKeyValue[] | undefined): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list ?? []) out[kv.key] = attrValue(kv.value);
  return out;
}

/**
 * OTLP/JSON encodes ids as hex (the spec); a protobuf-JSON mapping would use base64. Both become
 * lowercase hex here, so ids compare the same way whatever the exporter chose.
 */
function hexId(id: string | undefined, bytes: number): string {
  if (!id) return '';
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(id)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? promisify(gunzip)(body) : body;
}

async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: OtlpReceiver['requests'] = [];
  const errors: string[] = [];
  const server: Server = createHttpServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0]!;
      const contentType = String(req.headers['content-type'] ?? '');
      const body = await readBody(req);
      requests.push({ path, contentType, bytes: body.length });
      if (req.method !== 'POST' || path !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!contentType.startsWith('application/json')) {
        errors.push(`POST /v1/traces with content-type ${contentType || '(none)'}: not OTLP/JSON`);
        res.writeHead(415).end();
        return;
      }
      try {
        const doc = JSON.parse(body.toString('utf8')) as OtlpTraces;
        for (const rs of doc.resourceSpans ?? []) {
          const service = String(attributes(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                traceId: hexId(s.traceId, 16),
                spanId: hexId(s.spanId, 8),
                parentSpanId: hexId(s.parentSpanId, 8),
                name: s.name,
                kind: s.kind ?? 0,
                startNs: BigInt(s.startTimeUnixNano),
                endNs: BigInt(s.endTimeUnixNano),
                attributes: attributes(s.attributes),
              });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch (err) {
        errors.push(`unreadable OTLP/JSON body: ${(err as Error).message}`);
        res.writeHead(400).end();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('OTLP receiver: no address');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    spans,
    requests,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------ helpers

/** A free port below Linux's ephemeral range (client sockets cannot take it meanwhile). */
async function pickPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createNetServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

async function launch(kind: 'ingest' | 'gateway', env: Record<string, string>): Promise<ServiceHandle> {
  const portVar = kind === 'gateway' ? 'PORT' : 'SLUICE_INGEST_PORT';
  const h = await startService(kind, { ...env, [portVar]: String(await pickPort()) });
  await h.waitForHealthy(20_000);
  return h;
}

function describeSpans(spans: ReceivedSpan[]): string {
  return spans
    .map(
      (s) =>
        `  ${s.service} "${s.name}" trace=${s.traceId} span=${s.spanId} parent=${s.parentSpanId || '-'} ` +
        JSON.stringify(s.attributes),
    )
    .join('\n');
}

// ------------------------------------------------------------------ the test

it('one event is one trace: ingest publish span → gateway delivery span, with channel, event, recipients, dropped', async () => {
  const receiver = await startOtlpReceiver();
  onTestFinished(() => receiver.close());
  const scope = testScope();
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_TRACES_SAMPLER: 'always_on',
    // Traces only: nothing else may try to export.
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  };
  const ingest = await launch('ingest', { ...scope.env, ...otel, REDIS_NAMESPACE: scope.namespace });
  const gateway = await launch('gateway', { ...scope.env, ...otel });

  const fx = new Fixtures();
  onTestFinished(() => fx.close());
  const user = await fx.createUser();
  const redis = redisClient();

  const client = await SseClient.open({
    port: gateway.port,
    path: '/api/v1/streaming/public/local',
    token: user.token,
  });
  onTestFinished(() => client.close());
  expect(client.status, client.text).toBe(200);

  // The subscription reaches NATS asynchronously: `delete` probes until one arrives.
  const probes = new Set<string>();
  await pollUntil(
    'a probe to reach the SSE client',
    async () => {
      const id = `probe${nextId()}`;
      probes.add(id);
      await railsPublish(redis, CHANNEL, 'delete', id, { namespace: scope.namespace });
      return client
        .waitForEvent((e) => e.event === 'delete' && probes.has(e.data), 300, 'a probe')
        .then(
          () => true,
          () => false,
        );
    },
    { timeoutMs: 15_000, intervalMs: 0 },
  );

  // The event under test: the only `update` this test's namespace ever carries.
  const author = await fx.createAccount();
  const statusId = nextId();
  const status = {
    id: statusId,
    created_at: new Date().toISOString(),
    visibility: 'public',
    language: 'en',
    content: `<p>traced ${statusId}</p>`,
    account: { id: author.accountId, username: author.username, acct: author.acct },
    mentions: [],
    tags: [],
    media_attachments: [],
  };
  await railsPublish(redis, CHANNEL, 'update', status, { namespace: scope.namespace });
  const received = await client.waitForEvent(
    (e) => e.event === 'update' && e.data.includes(statusId),
    10_000,
    `update ${statusId}`,
  );
  // Mastodon adds `filtered` (keyword filter matches) to an authenticated client's `update`.
  const { filtered, ...delivered } = JSON.parse(received.data) as Record<string, unknown>;
  expect(delivered).toEqual(status);
  if (filtered !== undefined) expect(filtered).toEqual([]);

  // Both processes export in batches (every second): wait for the ingest span and its child.
  const isIngestUpdate = (s: ReceivedSpan) =>
    s.service === INGEST_SERVICE && s.attributes['sluice.event'] === 'update';
  let ingestSpan: ReceivedSpan | undefined;
  let deliverySpan: ReceivedSpan | undefined;
  try {
    await pollUntil(
      'the ingest span of the update and the gateway span under it',
      () => {
        ingestSpan = receiver.spans.find(isIngestUpdate);
        deliverySpan = ingestSpan
          ? receiver.spans.find((s) => s.service === GATEWAY_SERVICE && s.parentSpanId === ingestSpan!.spanId)
          : undefined;
        return ingestSpan !== undefined && deliverySpan !== undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n` +
        `receiver: ${receiver.requests.length} request(s) ` +
        `${JSON.stringify(receiver.requests.slice(-5))}; errors: ${JSON.stringify(receiver.errors)}\n` +
        `spans received (${receiver.spans.length}):\n${describeSpans(receiver.spans)}\n` +
        `ingest: ${ingest.url}, gateway: ${gateway.url}`,
    );
  }
  expect(receiver.errors).toEqual([]);
  const root = ingestSpan!;
  const child = deliverySpan!;

  // Exactly one event of the namespace was an update: one ingest span for it.
  expect(receiver.spans.filter(isIngestUpdate)).toHaveLength(1);

  // Ingest: the root of the trace, a producer span with the channel and the event.
  expect(root.name).toBe('sluice.ingest publish');
  expect(root.kind).toBe(KIND_PRODUCER);
  expect(root.parentSpanId).toBe('');
  expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
  expect(root.attributes).toMatchObject({
    'sluice.channel': CHANNEL,
    'sluice.event': 'update',
    'messaging.system': 'nats',
    'sluice.duplicate': false,
  });
  expect(String(root.attributes['messaging.destination.name'])).toContain(scope.prefix);

  // Gateway: the delivery, a consumer child of the ingest span in the same trace.
  expect(child.service).toBe(GATEWAY_SERVICE);
  expect(child.name).toBe('gateway.deliver');
  expect(child.kind).toBe(KIND_CONSUMER);
  expect(child.traceId).toBe(root.traceId);
  expect(child.parentSpanId).toBe(root.spanId);
  expect(child.attributes).toMatchObject({ channel: CHANNEL, event: 'update', dropped: 0 });
  expect(child.attributes['recipients']).toBeGreaterThanOrEqual(1);
  expect(child.startNs).toBeGreaterThanOrEqual(root.startNs);

  // One trace per event: one publish and one delivery (one gateway) in it, nothing from elsewhere.
  const trace = receiver.spans.filter((s) => s.traceId === root.traceId);
  const names = trace.map((s) => `${s.service} ${s.name}`);
  expect(names.filter((n) => n === `${INGEST_SERVICE} sluice.ingest publish`)).toHaveLength(1);
  expect(names.filter((n) => n === `${GATEWAY_SERVICE} gateway.deliver`)).toHaveLength(1);
  expect(trace.every((s) => s.service === INGEST_SERVICE || s.service === GATEWAY_SERVICE)).toBe(true);
});
