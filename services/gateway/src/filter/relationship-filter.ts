/**
 * Blocks, mutes, domain blocks and keyword filters as a stage of the filter chain: for a status
 * event, every recipient on a public or hashtag stream (`needsFiltering`) is decided by one
 * {@link StatusFilter} call — one relationship query and at most one keyword-filter query,
 * however many are connected. Recipients on other streams (home, lists, …) pass untouched:
 * Rails already filtered those.
 *
 * When the database is too slow or fails, the event is dropped for the recipients that needed a
 * decision and counted; it never waits longer than the filter timeout.
 */
import type { GatewayMetrics } from '../metrics.js';
import type { Subscription } from '../model.js';
import type { EventFilter, FilterRequest, FilterResult } from './filter.js';
import type { KeywordCache } from './keyword-cache.js';
import { FilterTimeoutError, type StatusFilter } from './status-filter.js';

export class RelationshipFilter implements EventFilter {
  constructor(
    private readonly status: StatusFilter,
    private readonly keywords: KeywordCache,
    private readonly metrics: GatewayMetrics,
    private readonly onError: (err: unknown) => void,
  ) {}

  apply({ event, recipients }: FilterRequest): FilterResult | Promise<FilterResult> {
    const facts = event.status;
    if (facts === null || (event.event !== 'update' && event.event !== 'status.update')) {
      return { deliver: recipients, dropped: 0 };
    }
    const filtered: Subscription[] = [];
    for (const sub of recipients) if (sub.options.needsFiltering) filtered.push(sub);
    if (filtered.length === 0) return { deliver: recipients, dropped: 0 };
    const accounts = [...new Set(filtered.map((s) => s.conn.auth.accountId))];

    return this.status.decide({ data: event.data, status: facts }, accounts).then(
      (d) => {
        const deliver: Subscription[] = [];
        const variants = new Map<Subscription, Uint8Array>();
        const built = new Set<Uint8Array>();
        let dropped = 0;
        for (const sub of recipients) {
          if (!sub.options.needsFiltering) {
            deliver.push(sub);
            continue;
          }
          const id = sub.conn.auth.accountId;
          if (d.excluded.has(id)) {
            dropped++;
            continue;
          }
          deliver.push(sub);
          const payload = d.payloadFor(id);
          if (payload !== event.data) {
            variants.set(sub, payload);
            built.add(payload);
          }
        }
        if (dropped > 0) this.metrics.filterDropped.labels('relationship').inc(dropped);
        // One shared `"filtered":[]` variant plus one per user whose filters matched.
        if (d.variants > 1) this.metrics.filterVariants.inc(d.variants - 1);
        return { deliver, dropped, ...(variants.size > 0 ? { variants } : {}) };
      },
      (err: unknown) => {
        const reason = err instanceof FilterTimeoutError ? 'timeout' : 'error';
        this.metrics.filterDropped.labels(reason).inc(filtered.length);
        this.onError(err);
        const deliver = [...recipients].filter((s) => !s.options.needsFiltering);
        return { deliver, dropped: filtered.length };
      },
    );
  }

  filtersChanged(accountId: string): void {
    this.keywords.invalidate(accountId);
  }
}
