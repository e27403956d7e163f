/**
 * Coalesced token look-up (DESIGN decision 8). Look-ups arriving in the same tick, or while the
 * previous queries are still running, share one `token = ANY($1)` query of up to `batchMax`
 * tokens. Queries are also at least `windowMs` apart (unless a batch is full): a storm of
 * clients arriving one per millisecond would otherwise find the database idle each time and
 * cost one query each; this way 5,000 clients in 5 s cost about 5 s / windowMs queries, while a
 * lone client after a quiet period is looked up at once. Semantics per
 * token are Mastodon's (spec §5.2): no row → 401 `Invalid access token`; a NULL `scopes` or a
 * failing query → 500.
 */
import { Errors, StreamingError } from '@sluice/shared';
import type { AuthContext } from '../model.js';
import type { AuthStore, TokenRow } from './store.js';
import { UNMATCHABLE } from './token-source.js';

interface Waiter {
  resolve: (auth: AuthContext) => void;
  reject: (err: StreamingError) => void;
}

export interface TokenLookupOptions {
  store: AuthStore;
  /** Most tokens in one query (`SLUICE_AUTH_BATCH_MAX`). */
  batchMax: number;
  /** Most token queries running at once; further look-ups wait and join the next batch. */
  maxInFlight?: number;
  /** Least time between two batches that are not full (`SLUICE_AUTH_BATCH_WINDOW_MS`). */
  windowMs?: number;
  /** Observes each batch size (metric). */
  onBatch?: (size: number) => void;
  now?: () => number;
}

export class TokenLookup {
  private queue = new Map<string, Waiter[]>();
  private scheduled = false;
  private inFlight = 0;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private readonly maxInFlight: number;
  private readonly now: () => number;

  constructor(private readonly opts: TokenLookupOptions) {
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 2);
    this.now = opts.now ?? Date.now;
  }

  lookup(token: string): Promise<AuthContext> {
    if (token === UNMATCHABLE) return Promise.reject(new StreamingError(Errors.InvalidToken));
    // Postgres rejects NUL in text; keep such a token out of a shared batch (Mastodon: 500).
    if (token.includes('\0')) return Promise.reject(new StreamingError(Errors.Unexpected));
    return new Promise<AuthContext>((resolve, reject) => {
      const waiters = this.queue.get(token);
      if (waiters) waiters.push({ resolve, reject });
      else this.queue.set(token, [{ resolve, reject }]);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    const wait = (this.opts.windowMs ?? 0) - (this.now() - this.lastFlush);
    if (wait <= 0 || this.queue.size >= this.opts.batchMax) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    this.scheduled = false;
    this.lastFlush = this.now();
    while (this.queue.size > 0 && this.inFlight < this.maxInFlight) {
      let batch: Map<string, Waiter[]>;
      if (this.queue.size <= this.opts.batchMax) {
        batch = this.queue;
        this.queue = new Map();
      } else {
        batch = new Map();
        for (const [token, waiters] of this.queue) {
          batch.set(token, waiters);
          this.queue.delete(token);
          if (batch.size >= this.opts.batchMax) break;
        }
      }
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        if (this.queue.size > 0) this.schedule();
      });
    }
  }

  private async run(batch: Map<string, Waiter[]>): Promise<void> {
    this.opts.onBatch?.(batch.size);
    let rows: TokenRow[];
    try {
      rows = await this.opts.store.findTokens([...batch.keys()]);
    } catch (err) {
      for (const waiters of batch.values())
        for (const w of waiters) w.reject(new StreamingError(Errors.Unexpected, { cause: err }));
      return;
    }
    const byToken = new Map<string, TokenRow>();
    for (const row of rows) if (!byToken.has(row.token)) byToken.set(row.token, row);
    for (const [token, waiters] of batch) {
      const row = byToken.get(token);
      let auth: AuthContext | undefined;
      let error: StreamingError | undefined;
      if (!row) error = new StreamingError(Errors.InvalidToken);
      else {
        try {
          auth = toAuthContext(row);
        } catch (err) {
          error = new StreamingError(Errors.Unexpected, { cause: err });
        }
      }
      for (const w of waiters) {
        if (auth) w.resolve(auth);
        else w.reject(error!);
      }
    }
  }
}

/** Mastodon's derived state (spec §5.2): a NULL `scopes` throws, as `scopes.split(' ')` does. */
export function toAuthContext(row: TokenRow): AuthContext {
  if (row.scopes === null) throw new TypeError("Cannot read properties of null (reading 'split')");
  return {
    accessTokenId: String(row.id),
    accountId: String(row.account_id),
    scopes: row.scopes.split(' '),
    chosenLanguages: row.chosen_languages,
    permissions: BigInt(row.permissions ?? 0),
  };
}
