/**
 * Fan-out cost per event: 1, 100 and 1,000 WebSocket recipients on one channel, memory sinks.
 * Run: npx vitest bench --run src/pipeline.bench.ts
 */
import { trace } from '@opentelemetry/api';
import { channelToSubject } from '@sluice/shared';
import { bench, describe } from 'vitest';
import { createFilter } from './filter/index.js';
import { GatewayMetrics } from './metrics.js';
import { Pipeline } from './pipeline.js';
import { Hub, MemoryBus, MemoryHeaders, SubjectRegistry, Subscriber } from './subscribe/index.js';
import { auth, memoryLogger, PREFIX } from './testing.js';
import { Connections, MemorySink } from './write/index.js';

function setup(recipients: number) {
  const bus = new MemoryBus();
  const { logger } = memoryLogger();
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  let pipeline!: Pipeline;
  const registry = new SubjectRegistry({
    bus,
    prefix: PREFIX,
    logger,
    onMessage: (c, m) => pipeline.deliver(c, m),
  });
  const hub = new Hub(registry);
  const subscriber = new Subscriber({ hub, authoriser: {} as never, metrics, logger });
  const connections = new Connections({ metrics, logger, sendBufferBytes: 1 << 30, onClosed: () => {} });
  pipeline = new Pipeline({
    hub,
    filter: createFilter({ glitch: false }),
    connections,
    metrics,
    logger,
    tracer: trace.getTracer('b'),
    tracing: false,
  });
  const options = { needsFiltering: true, filterLocal: false, filterRemote: false, allowLocalOnly: true };
  for (let i = 0; i < recipients; i++) {
    const sink = new MemorySink('websocket');
    sink.write = () => {};
    const conn = connections.create(sink, auth({ chosenLanguages: i % 3 === 0 ? ['en'] : null }), 'r');
    connections.add(conn);
    subscriber.attach(conn, {
      name: 'public:local',
      channels: ['timeline:public:local'],
      options,
      labelJson: '["public:local"]',
    });
  }
  const subject = channelToSubject(PREFIX, 'ev', 'timeline:public:local');
  const payload = Buffer.from(
    JSON.stringify({ id: '1', content: `<p>${'x'.repeat(2000)}</p>`, account: { acct: 'a' } }),
  );
  const headers = new MemoryHeaders({
    'Sluice-Event': 'update',
    'Sluice-Local': '1',
    'Sluice-Lang': 'en',
    'Nats-Sequence': '1',
  });
  return () => bus.emit(subject, payload, headers);
}

describe('pipeline - fan-out of one 2 KB status', () => {
  for (const n of [1, 100, 1000]) {
    const run = setup(n);
    bench(`${n} recipients`, run);
  }
});
