import type { FilterRow } from './keyword-matcher.js';

/** What the relationship check needs to know about one status. */
export interface RelationshipQuery {
  /** Local recipients (account ids) of the event on this pod. */
  recipients: readonly string[];
  authorId: string | null;
  mentionIds: readonly string[];
  /** Domain of the author's `acct`, or null for local authors. */
  domain: string | null;
}

/**
 * The database seam of filtering (STYLE: one interface, a memory and a real implementation).
 * Each method is ONE round trip whatever the number of recipients.
 */
export interface FilterStore {
  /**
   * Recipients who must not receive the status: they block or mute the author or a mentioned
   * account, the author blocks them, or they block the author's domain (spec §8 step 4).
   */
  excludedRecipients(q: RelationshipQuery): Promise<Set<string>>;
  /** Unexpired keyword filter rows of these accounts. */
  keywordFilters(accountIds: readonly string[]): Promise<FilterRow[]>;
}
