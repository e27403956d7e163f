/**
 * Per-account compiled keyword filters, loaded on first need for all missing accounts of an
 * event in one query, dropped on `filters_changed` and after `ttlMs` (which also bounds the
 * effect of a missed `filters_changed`). Bounded in size; oldest entries go first.
 */
import { type CompiledFilter, compileFilters, type FilterRow } from './keyword-matcher.js';
import type { FilterStore } from './store.js';

interface Entry {
  filters: CompiledFilter[];
  loadedAt: number;
}

/** One query in flight for some accounts. */
interface Load {
  result: Promise<Map<string, CompiledFilter[]>>;
  /**
   * Accounts whose `filters_changed` arrived while this query was in flight: its rows may predate
   * the change, so they serve the events already waiting for them but are not cached.
   */
  stale: Set<string>;
}

export class KeywordCache {
  private readonly entries = new Map<string, Entry>();
  /** Loads in progress, so concurrent events share one query per account. */
  private readonly loading = new Map<string, Load>();

  constructor(
    private readonly store: FilterStore,
    private readonly opts: { ttlMs: number; maxAccounts: number; now?: () => number },
  ) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  /** Compiled filters for each account; accounts not cached are loaded in one round trip. */
  async get(accountIds: readonly string[]): Promise<Map<string, CompiledFilter[]>> {
    const now = this.now();
    const out = new Map<string, CompiledFilter[]>();
    const missing: string[] = [];
    const waits: Promise<void>[] = [];
    for (const id of accountIds) {
      const e = this.entries.get(id);
      if (e && now - e.loadedAt < this.opts.ttlMs) {
        out.set(id, e.filters);
        continue;
      }
      const pending = this.loading.get(id);
      if (pending) waits.push(pending.result.then((m) => void out.set(id, m.get(id) ?? [])));
      else missing.push(id);
    }
    if (missing.length > 0) {
      const load: Load = { result: Promise.resolve(new Map()), stale: new Set() };
      load.result = this.load(missing, now, load);
      for (const id of missing) this.loading.set(id, load);
      waits.push(
        load.result.then((m) => {
          for (const id of missing) out.set(id, m.get(id) ?? []);
        }),
      );
    }
    await Promise.all(waits);
    return out;
  }

  /**
   * `filters_changed`: forget the account's filters, including a query already in flight for it
   * (its rows may predate the change): the next event loads them again.
   */
  invalidate(accountId: string): void {
    this.entries.delete(accountId);
    const pending = this.loading.get(accountId);
    if (pending) {
      pending.stale.add(accountId);
      this.loading.delete(accountId);
    }
  }

  size(): number {
    return this.entries.size;
  }

  private async load(accountIds: string[], now: number, self: Load): Promise<Map<string, CompiledFilter[]>> {
    try {
      const rows = await this.store.keywordFilters(accountIds);
      const byAccount = new Map<string, FilterRow[]>();
      for (const r of rows) {
        const list = byAccount.get(r.accountId);
        if (list) list.push(r);
        else byAccount.set(r.accountId, [r]);
      }
      const result = new Map<string, CompiledFilter[]>();
      for (const id of accountIds) {
        const filters = compileFilters(byAccount.get(id) ?? []);
        result.set(id, filters);
        if (self.stale.has(id)) continue;
        this.entries.delete(id);
        this.entries.set(id, { filters, loadedAt: now });
      }
      while (this.entries.size > this.opts.maxAccounts) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
      }
      return result;
    } finally {
      for (const id of accountIds) if (this.loading.get(id) === self) this.loading.delete(id);
    }
  }
}
