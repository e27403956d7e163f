/** Clean-up actions registered during a test, run by `setup.ts` after it (last registered, first run). */

type Cleanup = () => Promise<void> | void;
const pending: Cleanup[] = [];

export function onCleanup(fn: Cleanup): void {
  pending.push(fn);
}

/** Runs every registered action, even if some fail; returns the errors. */
export async function runCleanups(): Promise<Error[]> {
  const errors: Error[] = [];
  while (pending.length > 0) {
    const fn = pending.pop()!;
    try {
      await fn();
    } catch (err) {
      errors.push(err as Error);
    }
  }
  return errors;
}
