/**
 * Publish-side NATS headers that cost little to build.
 *
 * Why not nats.js `headers()`: its `MsgHdrsImpl.set` deletes, then appends, and each of those
 * lists and filters all keys again and canonicalises the name character by character; `encode()`
 * then concatenates the header block and runs it through a TextEncoder. For the ~10 headers
 * ingest sets on every message that was ~2.8 µs of ~47 µs per message (2026-11-24 profile,
 * docs/benchmarks.md). Here a header is two array slots, and the block is built once, when nats.js
 * asks for it.
 *
 * Below the library API: nats.js (3.4) serialises the `headers` of a publish by calling
 * `encode()` on the object, a method of its `MsgHdrsImpl` that the `MsgHdrs` type does not
 * declare. `encode()` here returns exactly the bytes `MsgHdrsImpl.encode()` returns for the same
 * headers (`NATS/1.0\r\nName: value\r\n…\r\n\r\n`, UTF-8); wire-headers.test.ts checks this
 * against nats.js's own implementation, so a nats.js upgrade that changes either shows there.
 * Names and values are validated as nats.js validates them (name: printable ASCII without `:`;
 * value: no CR/LF, trimmed).
 */
import { canonicalMIMEHeaderKey, errors, Match, type MsgHdrs } from '@nats-io/transport-node';

const HEADER_LINE = 'NATS/1.0';
const CR_OR_LF = /[\r\n]/;
/** Names already checked (ingest uses a dozen fixed ones); bounded so odd names cannot grow it. */
const validNames = new Set<string>();

function checkName(name: string): void {
  if (validNames.has(name)) return;
  canonicalMIMEHeaderKey(name); // throws on an invalid character, as nats.js does
  if (validNames.size < 256) validNames.add(name);
}

function checkValue(value: string): string {
  if (CR_OR_LF.test(value))
    throw errors.InvalidArgumentError.format('header', 'values cannot contain \\r or \\n');
  return value.trim();
}

export class WireHeaders implements MsgHdrs {
  // Publish headers carry no status line.
  readonly hasError = false;
  readonly status = '';
  readonly code = 0;
  readonly description = '';
  private readonly ks: string[] = [];
  private readonly vs: string[] = [];
  private encoded: Uint8Array | null = null;
  /** Some name was appended twice (then `encode` groups the values by name). */
  private repeated = false;

  /** Replaces every value of `name` with `value`. */
  set(name: string, value: string, match: Match = Match.Exact): void {
    this.delete(name, match);
    this.append(name, value, match);
  }

  append(name: string, value: string, match: Match = Match.Exact): void {
    checkName(name);
    const v = checkValue(value);
    const key = match === Match.CanonicalMIME ? canonicalMIMEHeaderKey(name) : name;
    // Like nats.js: a value for a name that matches an existing one goes under the existing name.
    const i = this.find(key, match);
    if (i >= 0) this.repeated = true;
    this.ks.push(i >= 0 ? this.ks[i]! : key);
    this.vs.push(v);
    this.encoded = null;
  }

  get(name: string, match: Match = Match.Exact): string {
    const i = this.find(name, match);
    return i >= 0 ? this.vs[i]! : '';
  }

  last(name: string, match: Match = Match.Exact): string {
    const all = this.valuesOf(name, match);
    return all.length > 0 ? all[all.length - 1]! : '';
  }

  has(name: string, match: Match = Match.Exact): boolean {
    return this.find(name, match) >= 0;
  }

  keys(): string[] {
    return [...new Set(this.ks)];
  }

  values(name: string, match: Match = Match.Exact): string[] {
    return this.valuesOf(name, match);
  }

  delete(name: string, match: Match = Match.Exact): void {
    for (let i = this.ks.length - 1; i >= 0; i--) {
      if (matches(this.ks[i]!, name, match)) {
        this.ks.splice(i, 1);
        this.vs.splice(i, 1);
        this.encoded = null;
      }
    }
  }

  *[Symbol.iterator](): IterableIterator<[string, string[]]> {
    for (const k of this.keys()) yield [k, this.valuesOf(k, Match.Exact)];
  }

  /**
   * The header block as nats.js writes it (see the file comment); kept until the next change, so
   * a retried publish does not build it again. Values of one name are grouped under the name's
   * first position, as nats.js's Map of name → values does.
   */
  encode(): Uint8Array {
    if (this.encoded) return this.encoded;
    let s = HEADER_LINE;
    const n = this.ks.length;
    if (!this.repeated) {
      for (let i = 0; i < n; i++) s += `\r\n${this.ks[i]}: ${this.vs[i]}`;
    } else {
      for (const [k, vs] of this) for (const v of vs) s += `\r\n${k}: ${v}`;
    }
    this.encoded = n === 0 ? new Uint8Array(0) : Buffer.from(`${s}\r\n\r\n`, 'utf8');
    return this.encoded;
  }

  private find(name: string, match: Match): number {
    const ks = this.ks;
    if (match === Match.Exact) return ks.indexOf(name);
    for (let i = 0; i < ks.length; i++) if (matches(ks[i]!, name, match)) return i;
    return -1;
  }

  private valuesOf(name: string, match: Match): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.ks.length; i++) if (matches(this.ks[i]!, name, match)) out.push(this.vs[i]!);
    return out;
  }
}

function matches(have: string, want: string, match: Match): boolean {
  if (match === Match.Exact) return have === want;
  if (match === Match.CanonicalMIME) return have === canonicalMIMEHeaderKey(want);
  return have.toLowerCase() === want.toLowerCase();
}
