/**
 * Runs Debian's PyTorch (/usr/bin/python3 with python3-torch): the reference
 * that proves what we export and compute is what PyTorch itself does.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const PYTHON = process.env.EMBEDDINGS_TORCH_TEST_PYTHON ?? "/usr/bin/python3";

let available: string | undefined | null = null;

/** Why PyTorch cannot be used here, or undefined when it can. */
export function pythonTorchMissing(): string | undefined {
  if (available !== null) return available;
  if (!fs.existsSync(PYTHON)) available = `${PYTHON} does not exist (apt-get install -y python3-torch)`;
  else {
    try {
      execFileSync(PYTHON, ["-c", "import torch"], { stdio: "pipe" });
      available = undefined;
    } catch (error) {
      available = `${PYTHON} cannot import torch (apt-get install -y python3-torch): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`;
    }
  }
  return available;
}

/**
 * Runs a Python script with PyTorch; returns its stdout. The script goes to a
 * file first: torch.jit.script reads the source of the classes it compiles.
 * Throws with stderr on failure.
 */
export function runPython(script: string, args: readonly string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-python-"));
  const file = path.join(dir, "script.py");
  fs.writeFileSync(file, script);
  try {
    return execFileSync(PYTHON, [file, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`python failed: ${stderr || String(error)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
