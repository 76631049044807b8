/**
 * Runs many fault cases in one child process against dist/ (one process per
 * case would cost a libtorch start each). Each case is the body of an async
 * function with `et` (the package), `fx` (the fixtures folder), `tmp` (a fresh
 * folder of its own) and `copy(name)` (a writable copy of a fixture) in
 * scope, isolated by try/catch; its outcome is written as one JSON line as
 * soon as it settles, so an abort or a signal still shows which case it hit:
 * that case and the ones after it get no line.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

import { FIXTURES } from "./fixtures";

const ROOT = path.resolve(__dirname, "..", "..");

export interface FaultCase {
  readonly name: string;
  readonly body: string;
}

export interface CaseResult {
  readonly name: string;
  /** The thrown error's class name and code, or "returned" when the body did not throw. */
  readonly error?: { readonly name: string; readonly code?: string; readonly message: string };
  readonly returned?: unknown;
}

export interface BatchOutcome {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly results: ReadonlyMap<string, CaseResult>;
  readonly stderr: string;
}

export function runCaseBatch(cases: readonly FaultCase[], options: { timeoutMs?: number } = {}): BatchOutcome {
  const script = `
    const fs = require("node:fs"), os = require("node:os"), path = require("node:path");
    const et = require(${JSON.stringify(path.join(ROOT, "dist"))});
    const fx = ${JSON.stringify(FIXTURES)};
    const cases = JSON.parse(fs.readFileSync(0, "utf8"));
    (async () => {
      for (const c of cases) {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "et-fault-"));
        const copy = (name) => { const d = path.join(tmp, name); fs.cpSync(path.join(fx, name), d, { recursive: true }); for (const f of fs.readdirSync(d)) fs.chmodSync(path.join(d, f), 0o755); return d; };
        let line;
        try {
          const returned = await new (Object.getPrototypeOf(async function () {}).constructor)("et", "fx", "tmp", "copy", "fs", "path", c.body)(et, fx, tmp, copy, fs, path);
          line = { name: c.name, returned: returned === undefined ? null : returned };
        } catch (e) {
          line = { name: c.name, error: { name: e && e.constructor ? e.constructor.name : typeof e, code: e && e.code, message: String(e && e.message) } };
        }
        fs.rmSync(tmp, { recursive: true, force: true });
        fs.writeSync(1, JSON.stringify(line) + "\\n");
      }
    })();`;
  const child = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8", input: JSON.stringify(cases), timeout: options.timeoutMs ?? 300_000, maxBuffer: 64 << 20 });
  const results = new Map<string, CaseResult>();
  for (const line of child.stdout.split("\n")) {
    if (line.trim() === "") continue;
    const parsed = JSON.parse(line) as CaseResult;
    results.set(parsed.name, parsed);
  }
  return { status: child.status, signal: child.signal, results, stderr: child.stderr };
}
