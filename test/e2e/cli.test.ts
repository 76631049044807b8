/**
 * `embeddings-torch export-triton`, run through the CLI's main() with the
 * "torchscript" kind (a folder with model.pt and tokenizer files).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { main } from "../../lib/cli";
import { modelKinds } from "../../lib";
import { fixturePath } from "../helpers/fixtures";
import { parseTritonConfig, tritonParserMissing } from "../helpers/triton-config";
import { reportSkip } from "../helpers/skip";

let dir: string;
let model: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-cli-"));
  model = path.join(dir, "tiny-torchscript");
  fs.mkdirSync(model);
  fs.copyFileSync(fixturePath("bert-tiny", "traced_pooler_eager.pt"), path.join(model, "model.pt"));
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(fixturePath("bert-tiny", f), path.join(model, f));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("embeddings-torch export-triton", () => {
  const tools = tritonParserMissing();
  if (tools) reportSkip(`skipped: export-triton of a TorchScript model (${tools})`);
  (tools ? test.skip : test)("exports a shared TorchScript model, says so, and refuses to redo a deployed version (exit 1, repository untouched)", async () => {
    const repo = path.join(dir, "repo");
    const first = await run("export-triton", "--model", model, "--kind", "torchscript", "--repository", repo, "--name", "tiny", "--version", "2", "--max-batch-size", "8");
    expect(first).toMatchObject({ code: 0, err: "" });
    expect(first.out).toContain(`wrote ${path.join(repo, "tiny", "2")} and ${path.join(repo, "tiny", "config.pbtxt")}`);
    expect(first.out).toContain('one model "tiny" serves both; send query requests with priority 1');
    const config = parseTritonConfig(path.join(repo, "tiny", "config.pbtxt"));
    expect(config.max_batch_size).toBe(8);
    expect(config.input.map((i) => i.name)).toEqual(["input_ids", "attention_mask"]);
    const stat = fs.statSync(path.join(repo, "tiny", "2", "model.pt"));

    const again = await run("export-triton", "--model", model, "--kind", "torchscript", "--repository", repo, "--name", "tiny", "--version", "2");
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^embeddings-torch export-triton: DeployedVersionError: exportToTriton: version 2 of "tiny" is already deployed/);
    expect(fs.statSync(path.join(repo, "tiny", "2", "model.pt")).mtimeMs).toBe(stat.mtimeMs);
  });

  test("usage errors exit 2 with the reason: unknown kind (listing the registered ones), missing flags, bad numbers, unknown flags", async () => {
    expect(modelKinds()).toContain("torchscript");
    const kind = await run("export-triton", "--model", model, "--kind", "gpt", "--repository", dir, "--name", "x");
    expect(kind.code).toBe(2);
    expect(kind.err).toContain(`--kind must be one of ${modelKinds().join(", ")} but received "gpt"`);
    const flags = await run("export-triton", "--kind", "torchscript");
    expect(flags).toMatchObject({ code: 2 });
    expect(flags.err).toContain("missing --model, --repository, --name");
    const version = await run("export-triton", "--model", model, "--kind", "torchscript", "--repository", dir, "--name", "x", "--version", "0");
    expect(version.err).toContain('--version expects an integer ≥ 1 but received "0"');
    expect(version.code).toBe(2);
    const unknown = await run("export-triton", "--modle", model);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/Unknown option '--modle'/);
    expect(await run("frobnicate")).toMatchObject({ code: 2, err: expect.stringContaining('unknown command "frobnicate"') });
    expect(fs.readdirSync(dir).sort()).toEqual(expect.not.arrayContaining(["x"]));
  });

  test("a model name Triton rejects is a usage error before anything is loaded or written (exit 2)", async () => {
    const repo = path.join(dir, "r2");
    const result = await run("export-triton", "--model", model, "--kind", "torchscript", "--repository", repo, "--name", "../escape");
    expect(result.code).toBe(2);
    expect(result.err).toContain('--name: ModelStorageInfo: model name "../escape" is not a Triton model name');
    expect(fs.existsSync(repo)).toBe(false);
  });
});
