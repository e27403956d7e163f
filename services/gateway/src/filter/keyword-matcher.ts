/**
 * Keyword filters compiled once per account (spec §8 step 7), with Rails' semantics where
 * Mastodon's server has a known defect (docs/compatibility.md):
 * - whole-word boundaries use Unicode word characters (Rails `[[:word:]]`), not ASCII `\b`;
 * - action 2 is `"blur"` (Mastodon's server serialises it as a missing key).
 */

export interface FilterRow {
  accountId: string;
  filterId: string;
  title: string;
  context: string[];
  /** Milliseconds since the epoch (UTC), or null for "never". */
  expiresAt: number | null;
  action: number;
  keyword: string;
  wholeWord: boolean;
}

/** The `filter` object of a FilterResult (REST::FilterSerializer's streaming shape). */
export interface FilterJson {
  id: string;
  title: string;
  context: string[];
  expires_at: string | null;
  filter_action: 'warn' | 'hide' | 'blur';
}

export interface FilterResult {
  filter: FilterJson;
  keyword_matches: string[];
  status_matches: null;
}

export interface CompiledFilter {
  json: FilterJson;
  expiresAt: number | null;
  regex: RegExp;
}

const ACTIONS = ['warn', 'hide', 'blur'] as const;
const WORD = '[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]';
const STARTS_WITH_WORD = new RegExp(`^${WORD}`, 'u');
const ENDS_WITH_WORD = new RegExp(`${WORD}$`, 'u');

function escapeRegExp(s: string): string {
  // Only syntax characters: with the `u` flag, escaping anything else (`-`, `/`) is an error.
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function keywordPattern(keyword: string, wholeWord: boolean): string {
  const body = escapeRegExp(keyword);
  if (!wholeWord) return body;
  const pre = STARTS_WITH_WORD.test(keyword) ? `(?<!${WORD})` : '';
  const post = ENDS_WITH_WORD.test(keyword) ? `(?!${WORD})` : '';
  return pre + body + post;
}

/** Groups rows (one per keyword) into filters with one case-insensitive regex each. */
export function compileFilters(rows: readonly FilterRow[]): CompiledFilter[] {
  const byId = new Map<string, { row: FilterRow; patterns: string[] }>();
  for (const row of rows) {
    let f = byId.get(row.filterId);
    if (!f) {
      f = { row, patterns: [] };
      byId.set(row.filterId, f);
    }
    f.patterns.push(keywordPattern(row.keyword, row.wholeWord));
  }
  const out: CompiledFilter[] = [];
  for (const { row, patterns } of byId.values()) {
    out.push({
      json: {
        id: row.filterId,
        title: row.title,
        context: row.context,
        expires_at: row.expiresAt === null ? null : new Date(row.expiresAt).toISOString(),
        filter_action: ACTIONS[row.action] ?? 'warn',
      },
      expiresAt: row.expiresAt,
      regex: new RegExp(patterns.join('|'), 'iu'),
    });
  }
  return out;
}

/** Filter results for one user and one status text; `[]` when nothing matched. */
export function matchFilters(filters: readonly CompiledFilter[], text: string, now: number): FilterResult[] {
  if (text === '' || filters.length === 0) return [];
  const results: FilterResult[] = [];
  for (const f of filters) {
    if (f.expiresAt !== null && f.expiresAt < now) continue;
    const m = f.regex.exec(text);
    if (m) results.push({ filter: f.json, keyword_matches: [m[0]], status_matches: null });
  }
  return results;
}
