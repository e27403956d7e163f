/**
 * The filter seam (DESIGN decision 7). Batch-shaped: one call per event per pod with every
 * candidate recipient, so a store-backed filter (blocks, mutes, domain blocks, keyword filters:
 * a later issue) can decide all of them in one query. A filter may answer synchronously (the
 * in-memory rules) or with a promise; the pipeline keeps event order either way.
 */
import type { Envelope } from '@sluice/shared';
import type { Subscription } from '../model.js';

export interface FilterRequest {
  /** The Redis channel the event arrived on. */
  readonly channel: string;
  readonly event: Envelope;
  readonly recipients: ReadonlySet<Subscription>;
}

export interface FilterResult {
  /** Who receives the event. May be `request.recipients` itself when nobody was dropped. */
  readonly deliver: Iterable<Subscription>;
  readonly dropped: number;
  /**
   * Recipients that get a different payload (keyword filters set `filtered` per user): the bytes
   * to send instead of `event.data`. Recipients sharing one Uint8Array share one encoding.
   */
  readonly variants?: ReadonlyMap<Subscription, Uint8Array>;
}

export interface EventFilter {
  apply(request: FilterRequest): FilterResult | Promise<FilterResult>;
  /** `filters_changed` reached an account's system channel: drop what is cached for it. */
  filtersChanged?(accountId: string): void;
}

export function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as Promise<T> | undefined)?.then === 'function';
}

/** Runs filters in order; each sees only the recipients the previous ones kept. */
export class FilterChain implements EventFilter {
  constructor(private readonly filters: readonly EventFilter[]) {}

  apply(request: FilterRequest): FilterResult | Promise<FilterResult> {
    return this.step(0, request, 0, undefined);
  }

  filtersChanged(accountId: string): void {
    for (const f of this.filters) f.filtersChanged?.(accountId);
  }

  private step(
    i: number,
    request: FilterRequest,
    dropped: number,
    variants: ReadonlyMap<Subscription, Uint8Array> | undefined,
  ): FilterResult | Promise<FilterResult> {
    if (i === this.filters.length)
      return { deliver: request.recipients, dropped, ...(variants ? { variants } : {}) };
    const next = (r: FilterResult): FilterResult | Promise<FilterResult> => {
      const kept = r.deliver === request.recipients ? request.recipients : new Set(r.deliver);
      const merged = r.variants ? new Map([...(variants ?? []), ...r.variants]) : variants;
      return this.step(i + 1, { ...request, recipients: kept }, dropped + r.dropped, merged);
    };
    const result = this.filters[i]!.apply(request);
    return isPromise(result) ? result.then(next) : next(result);
  }
}
