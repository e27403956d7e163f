import type { AuthStore, SettingRow, TokenRow } from './store.js';

export interface MemoryToken {
  token: string;
  id: string;
  accountId: string;
  scopes: string | null;
  chosenLanguages?: string[] | null;
  permissions?: string;
  revoked?: boolean;
  disabled?: boolean;
  suspended?: boolean;
}

/** Tables in memory with the same rules as the SQL; records every call for batching tests. */
export class MemoryAuthStore implements AuthStore {
  readonly tokens = new Map<string, MemoryToken>();
  /** list id → owner account id */
  readonly lists = new Map<string, string>();
  readonly settingsTable = new Map<string, string | null>();
  readonly tokenQueries: string[][] = [];
  settingsQueries = 0;
  fail: Error | null = null;
  /** Delay for each query, to let concurrent lookups pile up. */
  delayMs = 0;

  addToken(t: MemoryToken): this {
    this.tokens.set(t.token, t);
    return this;
  }

  async findTokens(tokens: readonly string[]): Promise<TokenRow[]> {
    this.tokenQueries.push([...tokens]);
    await this.wait();
    const rows: TokenRow[] = [];
    for (const token of tokens) {
      const t = this.tokens.get(token);
      if (!t || t.revoked || t.disabled || t.suspended) continue;
      rows.push({
        token,
        id: t.id,
        account_id: t.accountId,
        chosen_languages: t.chosenLanguages ?? null,
        scopes: t.scopes,
        permissions: t.permissions ?? '0',
      });
    }
    return rows;
  }

  async listOwnedBy(listId: unknown, accountId: string): Promise<boolean> {
    await this.wait();
    const id = String(listId);
    if (!/^-?\d+$/.test(id)) throw new Error(`invalid input syntax for type bigint: "${id}"`);
    return this.lists.get(String(BigInt(id))) === accountId;
  }

  async settings(vars: readonly string[]): Promise<SettingRow[]> {
    this.settingsQueries++;
    await this.wait();
    return vars
      .filter((v) => this.settingsTable.has(v))
      .map((v) => ({ var: v, value: this.settingsTable.get(v) ?? null }));
  }

  private async wait(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.fail) throw this.fail;
  }
}
