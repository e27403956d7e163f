/**
 * A connection's stream subscriptions by key. Nearly every connection holds one stream, so the
 * first is kept inline and a `Map` is made only for a second: a `Map` costs ~0.5 KB per idle
 * connection in the gateway's heap snapshots (docs/benchmarks.md, "t3, third round").
 */
export class StreamSet<T> {
  private oneKey: string | null = null;
  private one: T | null = null;
  private more: Map<string, T> | null = null;

  get size(): number {
    return (this.oneKey === null ? 0 : 1) + (this.more?.size ?? 0);
  }

  has(key: string): boolean {
    return this.oneKey === key || (this.more?.has(key) ?? false);
  }

  get(key: string): T | undefined {
    if (this.oneKey === key) return this.one!;
    return this.more?.get(key);
  }

  set(key: string, value: T): void {
    if (this.oneKey === null || this.oneKey === key) {
      if (this.oneKey === null && this.more?.has(key)) {
        this.more.set(key, value);
        return;
      }
      this.oneKey = key;
      this.one = value;
      return;
    }
    this.more ??= new Map();
    this.more.set(key, value);
  }

  delete(key: string): boolean {
    if (this.oneKey === key) {
      this.oneKey = null;
      this.one = null;
      return true;
    }
    return this.more?.delete(key) ?? false;
  }

  /** A copy: safe to change the set while going through it. */
  values(): T[] {
    const out = this.more ? [...this.more.values()] : [];
    if (this.oneKey !== null) out.unshift(this.one!);
    return out;
  }
}
