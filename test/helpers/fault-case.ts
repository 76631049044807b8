/**
 * Runs one fault case in a fresh Node process against dist/ (what users run),
 * so an abort or a signal shows as such instead of taking jest down. The case
 * is the body of an async function with `et` (the package) in scope; what it
 * throws (or returns) is reported back as JSON.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

export interface CaseOutcome {
  /** Exit status (null when killed by a signal). */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The thrown error's class name, code and message, or { returned } when it did not throw. */
  readonly error?: { readonly name: string; readonly code?: string; readonly message: string } | undefined;
  readonly returned?: unknown;
  readonly stderr: string;
}

export function runCase(body: string, options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CaseOutcome {
  const script = `
    const et = require(${JSON.stringify(path.join(ROOT, "dist"))});
    (async () => { ${body} })().then(
      (returned) => { process.stdout.write(JSON.stringify({ returned: returned === undefined ? null : returned })); },
      (e) => { process.stdout.write(JSON.stringify({ error: { name: e && e.constructor ? e.constructor.name : typeof e, code: e && e.code, message: String(e && e.message) } })); },
    );`;
  const child = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8", timeout: options.timeoutMs ?? 60_000, env: { ...process.env, ...options.env } });
  const parsed = child.stdout ? (JSON.parse(child.stdout) as { error?: CaseOutcome["error"]; returned?: unknown }) : {};
  return { status: child.status, signal: child.signal, stderr: child.stderr, ...parsed };
}
