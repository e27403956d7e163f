import type { FilterRow } from './keyword-matcher.js';
import type { FilterStore, RelationshipQuery } from './store.js';

/** In-memory relationships for unit and property tests; counts round trips like a database. */
export class MemoryFilterStore implements FilterStore {
  readonly blocks = new Set<string>();
  readonly mutes = new Set<string>();
  readonly domainBlocks = new Set<string>();
  filters: FilterRow[] = [];
  queries = 0;

  block(accountId: string, targetId: string): void {
    this.blocks.add(`${accountId}>${targetId}`);
  }
  mute(accountId: string, targetId: string): void {
    this.mutes.add(`${accountId}>${targetId}`);
  }
  blockDomain(accountId: string, domain: string): void {
    this.domainBlocks.add(`${accountId}>${domain}`);
  }

  async excludedRecipients(q: RelationshipQuery): Promise<Set<string>> {
    this.queries++;
    const targets = q.authorId ? [q.authorId, ...q.mentionIds] : [...q.mentionIds];
    const out = new Set<string>();
    for (const r of q.recipients) {
      if (targets.some((t) => this.blocks.has(`${r}>${t}`) || this.mutes.has(`${r}>${t}`))) out.add(r);
      if (q.authorId && this.blocks.has(`${q.authorId}>${r}`)) out.add(r);
      if (q.domain !== null && this.domainBlocks.has(`${r}>${q.domain}`)) out.add(r);
    }
    return out;
  }

  async keywordFilters(accountIds: readonly string[]): Promise<FilterRow[]> {
    this.queries++;
    const want = new Set(accountIds);
    const now = Date.now();
    return this.filters.filter((f) => want.has(f.accountId) && (f.expiresAt === null || f.expiresAt > now));
  }
}
