/**
 * Stage `filter`: who gets each event. Today the in-memory rules; blocks, mutes, domain blocks and
 * keyword filters (one query per event per pod) plug in as a further {@link EventFilter} in the
 * chain built by {@link createFilter}.
 */
import { type EventFilter, FilterChain } from './filter.js';
import { MemoryRules } from './rules.js';

export { type EventFilter, FilterChain, type FilterRequest, type FilterResult, isPromise } from './filter.js';
export { MemoryRules } from './rules.js';

export function createFilter(opts: { glitch: boolean; extra?: readonly EventFilter[] }): EventFilter {
  const rules = new MemoryRules({ glitch: opts.glitch });
  return opts.extra && opts.extra.length > 0 ? new FilterChain([rules, ...opts.extra]) : rules;
}
export { KeywordCache } from './keyword-cache.js';
export { RelationshipFilter } from './relationship-filter.js';
export { StatusFilter } from './status-filter.js';
export { MemoryFilterStore } from './store-memory.js';
export { PostgresFilterStore } from './store-postgres.js';
