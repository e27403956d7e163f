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

export class KeywordCache {
  private readonly entries = new Map<string, Entry>();
  /** Loads in progress, so concurrent events share one query per account. */
  private readonly loading = new Map<string, Promise<void>>();

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
    const missing: string[] = [];
    const waits = new Set<Promise<void>>();
    for (const id of accountIds) {
      const e = this.entries.get(id);
      if (e && now - e.loadedAt < this.opts.ttlMs) continue;
      const pending = this.loading.get(id);
      if (pending) waits.add(pending);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const load = this.load(missing, now);
      for (const id of missing) this.loading.set(id, load);
      waits.add(load);
    }
    await Promise.all(waits);
    const out = new Map<string, CompiledFilter[]>();
    for (const id of accountIds) out.set(id, this.entries.get(id)?.filters ?? []);
    return out;
  }

  invalidate(accountId: string): void {
    this.entries.delete(accountId);
  }

  size(): number {
    return this.entries.size;
  }

  private async load(accountIds: string[], now: number): Promise<void> {
    try {
      const rows = await this.store.keywordFilters(accountIds);
      const byAccount = new Map<string, FilterRow[]>();
      for (const r of rows) {
        const list = byAccount.get(r.accountId);
        if (list) list.push(r);
        else byAccount.set(r.accountId, [r]);
      }
      for (const id of accountIds) {
        this.entries.delete(id);
        this.entries.set(id, { filters: compileFilters(byAccount.get(id) ?? []), loadedAt: now });
      }
      while (this.entries.size > this.opts.maxAccounts) {
        const oldest = this.entries.keys().next().value as string;
        this.entries.delete(oldest);
      }
    } finally {
      for (const id of accountIds) this.loading.delete(id);
    }
  }
}
