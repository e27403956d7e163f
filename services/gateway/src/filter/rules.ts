/**
 * The in-memory rules of Mastodon's per-event filter (spec §8 steps 1–2, glitch §15), decided
 * from the facts ingest put in the headers (never by parsing the payload):
 *   0. glitch `local_only`: a local-only status reaches only subscriptions with `allowLocalOnly`
 *      (every stream type, before anything else);
 *   1. feed access: drop local statuses when `filterLocal`, remote ones when `filterRemote`;
 *   2. language: with `chosen_languages` set, drop statuses in other languages, and those with
 *      no language (4.4+).
 * Steps 1–2 apply only to public and hashtag streams (`needsFiltering`) and only to `update` /
 * `status.update`; everything else passes untouched.
 */
import type { Subscription } from '../model.js';
import type { EventFilter, FilterRequest, FilterResult } from './filter.js';

export class MemoryRules implements EventFilter {
  constructor(private readonly opts: { glitch: boolean }) {}

  apply({ event, recipients }: FilterRequest): FilterResult {
    if (event.event !== 'update' && event.event !== 'status.update')
      return { deliver: recipients, dropped: 0 };
    const facts = event.status;
    const localOnly = this.opts.glitch && facts?.localOnly === true;
    if (!localOnly && !anyNeedsFiltering(recipients)) return { deliver: recipients, dropped: 0 };

    const kept: Subscription[] = [];
    for (const sub of recipients) {
      const o = sub.options;
      if (localOnly && !o.allowLocalOnly) continue;
      if (o.needsFiltering && facts !== null) {
        if (facts.local ? o.filterLocal : o.filterRemote) continue;
        const languages = sub.conn.auth.chosenLanguages;
        if (languages !== null && (facts.language === null || !languages.includes(facts.language))) continue;
      }
      kept.push(sub);
    }
    return { deliver: kept, dropped: recipients.size - kept.length };
  }
}

function anyNeedsFiltering(recipients: ReadonlySet<Subscription>): boolean {
  for (const sub of recipients) if (sub.options.needsFiltering) return true;
  return false;
}
