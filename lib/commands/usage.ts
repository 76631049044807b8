/**
 * Command-line argument helpers shared by the commands: a usage mistake is a
 * UsageError (exit code 2, usage printed); numbers are checked by flag.
 */

/** A mistake in the command line: usage goes with it, exit code 2. */
export class UsageError extends Error {}

/** An integer flag, at least `min`. @throws UsageError naming the flag and value. */
export function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} expects an integer ≥ ${min} but received ${JSON.stringify(value)}`);
  return Number(value);
}

/** A positive number flag (learning rates, fractions below `max`). @throws UsageError naming the flag and value. */
export function positiveNumber(value: string | undefined, flag: string, max = Infinity): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0 || n >= max)
    throw new UsageError(`${flag} expects a number in (0, ${max === Infinity ? "∞" : max}) but received ${JSON.stringify(value)}`);
  return n;
}

/** Flags that must be present. @throws UsageError listing the missing ones. */
export function requireFlags<K extends string>(values: Partial<Record<K, unknown>>, names: readonly K[]): void {
  const missing = names.filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(", ")}`);
}
