/**
 * Says why tests are skipped. Written to stderr directly: jest drops the
 * console output of a suite whose tests are all skipped.
 */
export function reportSkip(message: string): void {
  process.stderr.write(`${message}\n`);
}
