/**
 * `embeddings-torch export-triton`, run through the CLI's main() with the
 * "torchscript" kind (a folder with model.pt and tokenizer files).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { modelKinds } from "../../lib";
import { fixturePath } from "../helpers/fixtures";
import { parseTritonConfig, tritonParserMissing } from "../helpers/triton-config";
import { runCli } from "../helpers/cli";
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

const run = runCli;

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

describe("command-line conventions (the installed bin, dist/cli.js, in a child process)", () => {
  const ROOT = path.resolve(__dirname, "..", "..");
  const bin = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, "dist", "cli.js"), ...args], {
      encoding: "utf8",
      // --help and --version must not need the addon: point it at nothing
      env: { ...process.env, EMBEDDINGS_TORCH_ADDON: "/nonexistent/embeddings_torch.node" },
    });
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

  test.each([["--help"], ["-h"], ["help"]])("%s prints the usage on stdout and exits 0", (flag) => {
    const child = bin(flag);
    expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 0, stderr: "" });
    expect(child.stdout).toMatch(/^usage: embeddings-torch <command> \[options\]/);
    expect(child.stdout).toMatch(/demo\s+fine-tune/);
    expect(child.stdout).toMatch(/export-triton\s+trace/);
  });

  test.each([["help", "demo"], ["demo", "--help"], ["demo", "-h"]])("%s %s prints the demo's options on stdout and exits 0", (...args) => {
    const child = bin(...args);
    expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 0, stderr: "" });
    expect(child.stdout).toMatch(/^usage: embeddings-torch demo .*--max-steps N/s);
  });

  test.each([["--version"], ["-v"]])("%s prints package.json's version and exits 0", (flag) => {
    expect(bin(flag)).toMatchObject({ status: 0, stdout: `${version}\n`, stderr: "" });
  });

  test("an unknown command prints the usage on stderr and exits 2; no command too", () => {
    const unknown = bin("frobnicate");
    expect(unknown).toMatchObject({ status: 2, stdout: "" });
    expect(unknown.stderr).toMatch(/^embeddings-torch: unknown command "frobnicate"\nusage: embeddings-torch <command>/);
    const none = bin();
    expect(none).toMatchObject({ status: 2, stdout: "" });
    expect(none.stderr).toMatch(/^embeddings-torch: no command given\nusage:/);
    expect(bin("help", "frobnicate")).toMatchObject({ status: 2, stdout: "" });
  });
});
