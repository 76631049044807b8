import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { TextToTextBertModel } from "../../lib";
import { runPython } from "../helpers/python";
import { reportSkip } from "../helpers/skip";

const ROOT = path.resolve(__dirname, "..", "..");

/** Why transformers cannot be used here (Debian's python3-torch has none; the GPU machine's Python does). */
function transformersMissing(): string | undefined {
  try {
    runPython("import transformers, safetensors");
    return undefined;
  } catch (error) {
    return `the test Python has no transformers/safetensors (${error instanceof Error ? error.message.split("\n").slice(-2).join(" ") : String(error)}); set EMBEDDINGS_TORCH_TEST_PYTHON to one that has`;
  }
}

const missing = transformersMissing();
if (missing) reportSkip(`skipped test/e2e/transformers-load.test.ts: ${missing}`);
const maybe = missing ? test.skip : test;

maybe("a folder written by savePretrained loads in Hugging Face transformers and gives our pooler_output (1e-5)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-hf-folder-"));
  try {
    using model = await TextToTextBertModel.fromPretrained(path.join(ROOT, "models", "default"));
    await model.savePretrained(dir);
    const texts = ["red running shoes", "a waterproof coat for women"];
    using ours = await model.forwardItems(texts);
    const out = runPython(
      `
import json, sys, torch
from transformers import AutoModel, AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
model = AutoModel.from_pretrained(sys.argv[1]).eval()
batch = tok(json.loads(sys.argv[2]), padding=True, return_tensors="pt")
with torch.no_grad():
    print(json.dumps(model(**batch).pooler_output.flatten().tolist()))
`,
      [dir, JSON.stringify(texts)],
    );
    const theirs = JSON.parse(out.trim().split("\n").pop() ?? "[]") as number[];
    const got = ours.toFloat32Array();
    expect(theirs.length).toBe(got.length);
    let max = 0;
    theirs.forEach((v, i) => (max = Math.max(max, Math.abs(v - (got[i] as number)))));
    expect(max).toBeLessThan(1e-5);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
