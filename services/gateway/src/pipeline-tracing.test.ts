import { propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { channelToSubject } from '@sluice/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryHeaders } from './subscribe/index.js';
import { auth, PREFIX, pipelineHarness } from './testing.js';
import { MemorySink } from './write/index.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

beforeAll(() => {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  propagation.disable();
});

describe('pipeline - delivery span', () => {
  it('is one span per event, a child of the traceparent, with recipients and dropped', () => {
    const { bus, connections, subscriber } = pipelineHarness({
      tracer: provider.getTracer('gw'),
      tracing: true,
    });
    const options = { needsFiltering: true, filterLocal: false, filterRemote: false, allowLocalOnly: true };
    for (const languages of [null, null, ['de']]) {
      const conn = connections.create(new MemorySink('websocket'), auth({ chosenLanguages: languages }), 'r');
      connections.add(conn);
      subscriber.attach(conn, {
        name: 'public',
        channels: ['timeline:public'],
        options,
        labelJson: '["public"]',
      });
    }
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const parentId = 'b7ad6b7169203331';
    bus.emit(
      channelToSubject(PREFIX, 'ev', 'timeline:public'),
      '{"id":"1"}',
      new MemoryHeaders({
        'Sluice-Event': 'update',
        'Sluice-Local': '1',
        'Sluice-Lang': 'en',
        traceparent: `00-${traceId}-${parentId}-01`,
      }),
    );
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    const span = spans[0]!;
    expect(span.name).toBe('gateway.deliver');
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.attributes).toMatchObject({
      channel: 'timeline:public',
      event: 'update',
      recipients: 2,
      dropped: 1,
    });
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});
