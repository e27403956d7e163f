/**
 * Blocks, mutes, domain blocks and keyword filters for one status and ALL its local recipients
 * on this pod (DESIGN decision 7): at most one relationship query and one keyword-filter query
 * per event, however many users are connected — Mastodon's server runs 1–3 queries and an HTML
 * parse per status per connection.
 *
 * Output: who is excluded, and the payload bytes per recipient. Recipients that get the same
 * bytes share one buffer: the unchanged payload when Rails already set `filtered`, one
 * `"filtered":[]` variant for everyone nothing matched, and individual payloads only for users
 * whose filters matched.
 */
import type { StatusFacts } from '@sluice/shared';
import type { KeywordCache } from './keyword-cache.js';
import { type FilterResult, matchFilters } from './keyword-matcher.js';
import { searchableText } from './status-text.js';
import type { FilterStore } from './store.js';

export interface StatusEvent {
  /** Payload bytes as ingest normalised them (JSON.stringify of the status). */
  data: Uint8Array;
  status: StatusFacts;
}

export interface StatusDecision {
  excluded: Set<string>;
  /** Bytes for a recipient that is not excluded. */
  payloadFor(accountId: string): Uint8Array;
  /** Distinct payload variants built (1 = everyone shares one). */
  variants: number;
}

export class FilterTimeoutError extends Error {
  override readonly name = 'FilterTimeoutError';
}

interface PendingDecision {
  ev: StatusEvent;
  recipients: Set<string>;
  result: Promise<StatusDecision> | null;
  resolve: (d: StatusDecision) => void;
  reject: (err: unknown) => void;
}

export class StatusFilter {
  /** Calls of the current tick, by payload: one status arrives on several channels at once. */
  private batch: Map<string, PendingDecision> | null = null;

  constructor(
    private readonly store: FilterStore,
    private readonly keywords: KeywordCache,
    private readonly opts: { timeoutMs: number; now?: () => number },
  ) {}

  /**
   * Decides for every recipient at once. Rejects with {@link FilterTimeoutError} (or the store's
   * error) when the database does not answer in time: the caller drops the event for these
   * recipients and counts it, so a slow database never queues events without bound.
   *
   * Rails publishes one status to several channels (`public`, `public:local`, each hashtag…);
   * the copies reach the gateway in the same tick, so calls with the same payload bytes in one
   * tick share one decision for the union of their recipients: one set of queries per status
   * per pod, not per channel.
   */
  decide(ev: StatusEvent, recipients: readonly string[]): Promise<StatusDecision> {
    if (!this.batch) {
      this.batch = new Map();
      setImmediate(() => this.flush());
    }
    const key = Buffer.from(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength).toString('latin1');
    let p = this.batch.get(key);
    if (!p) {
      let resolve!: (d: StatusDecision) => void;
      let reject!: (err: unknown) => void;
      const result = new Promise<StatusDecision>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      p = { ev, recipients: new Set(), result, resolve, reject };
      this.batch.set(key, p);
    }
    for (const r of recipients) p.recipients.add(r);
    return p.result!;
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = null;
    if (!batch) return;
    for (const p of batch.values()) this.decideNow(p.ev, [...p.recipients]).then(p.resolve, p.reject);
  }

  private async decideNow(ev: StatusEvent, recipients: readonly string[]): Promise<StatusDecision> {
    const s = ev.status;
    const needKeywords = !s.filtered;
    const work = Promise.all([
      this.store.excludedRecipients({
        recipients,
        authorId: s.accountId,
        mentionIds: s.mentions,
        domain: s.domain,
      }),
      needKeywords ? this.keywords.get(recipients) : Promise.resolve(null),
    ]);
    const [excluded, filters] = await withTimeout(work, this.opts.timeoutMs);
    if (!filters) return { excluded, payloadFor: () => ev.data, variants: 1 };

    const now = this.opts.now ? this.opts.now() : Date.now();
    let text: string | null = null;
    const individual = new Map<string, Uint8Array>();
    for (const id of recipients) {
      if (excluded.has(id)) continue;
      const list = filters.get(id);
      if (!list || list.length === 0) continue;
      text ??= searchableText(JSON.parse(Buffer.from(ev.data).toString('utf8')));
      const results = matchFilters(list, text, now);
      if (results.length > 0) individual.set(id, withFiltered(ev.data, results));
    }
    const shared = withFiltered(ev.data, []);
    return {
      excluded,
      payloadFor: (id) => individual.get(id) ?? shared,
      variants: 1 + individual.size,
    };
  }
}

/**
 * `{...payload, filtered}` as Mastodon sends it: the key appended last. The payload is
 * JSON.stringify output of an object without `filtered`, so splicing before the closing brace
 * gives the same bytes as re-serialising, without parsing.
 */
export function withFiltered(data: Uint8Array, results: FilterResult[]): Uint8Array {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  const body = text.slice(0, -1);
  const sep = body === '{' ? '' : ',';
  return Buffer.from(`${body}${sep}"filtered":${JSON.stringify(results)}}`, 'utf8');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new FilterTimeoutError(`filter queries took longer than ${ms} ms`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
