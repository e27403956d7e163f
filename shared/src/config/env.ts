/**
 * Typed readers over an environment map. Every reader names the variable in its error, so a
 * bad value stops the process with a message an operator can act on.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.variable = variable;
  }
}

/** Mastodon treats an empty value as unset. */
export function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Base-10 integer, like Mastodon's `parseIntFromEnvValue`: `Invalid <NAME> environment variable: <value>`. */
export function int(env: Env, name: string, def: number, opts: { min?: number; max?: number } = {}): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  const n = Number.parseInt(raw, 10);
  if (Number.isNaN(n) || !/^\s*[+-]?\d+\s*$/.test(raw)) {
    throw new ConfigError(name, `Invalid ${name} environment variable: ${raw}`);
  }
  return range(name, raw, n, opts);
}

/** A non-negative decimal (seconds may be fractional for tests). */
export function num(env: Env, name: string, def: number, opts: { min?: number; max?: number } = {}): number {
  const raw = str(env, name);
  if (raw === undefined) return def;
  const n = Number(raw);
  // Number('  ') is 0: a blank value is a mistake, not zero.
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new ConfigError(name, `Invalid ${name} environment variable: ${raw}`);
  return range(name, raw, n, opts);
}

function range(name: string, raw: string, n: number, opts: { min?: number; max?: number }): number {
  if (opts.min !== undefined && n < opts.min) {
    throw new ConfigError(name, `Invalid ${name} environment variable: ${raw} (minimum ${opts.min})`);
  }
  if (opts.max !== undefined && n > opts.max) {
    throw new ConfigError(name, `Invalid ${name} environment variable: ${raw} (maximum ${opts.max})`);
  }
  return n;
}

const FALSY = new Set(['false', '0', 'f', 'F', 'FALSE', 'off', 'OFF', 'no', 'NO', 'n', 'N']);
const TRUTHY = new Set(['true', '1', 't', 'T', 'TRUE', 'on', 'ON', 'yes', 'YES', 'y', 'Y']);

export function bool(env: Env, name: string, def: boolean): boolean {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if (TRUTHY.has(raw)) return true;
  if (FALSY.has(raw)) return false;
  throw new ConfigError(name, `Invalid ${name} environment variable: ${raw} (expected true or false)`);
}

export function oneOf<T extends string>(env: Env, name: string, values: readonly T[], def: T): T {
  const raw = str(env, name);
  if (raw === undefined) return def;
  if ((values as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(
    name,
    `Invalid ${name} environment variable: ${raw} (expected one of ${values.join(', ')})`,
  );
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
