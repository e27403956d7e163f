/**
 * OpenTelemetry tracing (DESIGN decision 12). Off unless an OTLP endpoint is configured
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); the exporter and the
 * sampler read the standard `OTEL_*` variables themselves. Exported as OTLP/HTTP, which Jaeger
 * v2 receives directly on :4318.
 *
 * Trace context crosses NATS in the W3C `traceparent` header, which RePublish keeps, so a
 * gateway's delivery span is a child of ingest's span for the same event.
 */
import {
  type Context,
  context,
  propagation,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { HeaderSink, HeaderSource } from './envelope.js';

export interface Telemetry {
  tracer: Tracer;
  enabled: boolean;
  shutdown(): Promise<void>;
}

export function startTelemetry(opts: { enabled: boolean; serviceName: string; version: string }): Telemetry {
  if (!opts.enabled) {
    return { tracer: trace.getTracer(opts.serviceName), enabled: false, shutdown: async () => {} };
  }
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        'service.name': opts.serviceName,
        'service.version': opts.version,
        'service.namespace': 'sluice',
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 })],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    tracer: trace.getTracer(opts.serviceName, opts.version),
    enabled: true,
    shutdown: () => provider.shutdown(),
  };
}

const setter: TextMapSetter<HeaderSink> = { set: (h, k, v) => h.set(k, v) };
const getter: TextMapGetter<HeaderSource | undefined> = {
  get: (h, k) => (h?.has(k) ? h.get(k) : undefined),
  keys: () => ['traceparent', 'tracestate'],
};

/** Writes the active (or given) context into NATS headers. */
export function injectTrace(headers: HeaderSink, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, setter);
}

/** Reads the trace context from NATS headers. */
export function extractTrace(headers: HeaderSource | undefined): Context {
  return propagation.extract(context.active(), headers, getter);
}
