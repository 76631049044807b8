/**
 * Synchronous bindings that call into libtorch turn its exceptions into typed
 * JS errors instead of aborting the process (native/binding.h registers every
 * binding behind one guard). Each case runs in its own process: an abort
 * would show as a signal. The TorchScript files are made by PyTorch itself.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { runCase } from "../helpers/fault-case";
import { pythonTorchMissing, runPython } from "../helpers/python";
import { reportSkip } from "../helpers/skip";

const missing = pythonTorchMissing();
if (missing) reportSkip(`skipped: native guard cases need PyTorch to write TorchScript files (${missing})`);
const suite = missing ? describe.skip : describe;

suite("libtorch exceptions in synchronous bindings", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-guards-"));
    runPython(
      `
import sys, torch
class NoForward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))
    @torch.jit.export
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w
class IntParameter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(2))
        self.steps = torch.nn.Parameter(torch.zeros(1, dtype=torch.int64), requires_grad=False)
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return (input_ids.float() * attention_mask.float()).sum(1, keepdim=True) * self.w
torch.jit.script(NoForward()).save(sys.argv[1] + "/no_forward.pt")
torch.jit.script(IntParameter()).save(sys.argv[1] + "/int_parameter.pt")
`,
      [dir],
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const expectTyped = (outcome: ReturnType<typeof runCase>, name: RegExp, message: RegExp) => {
    expect({ status: outcome.status, signal: outcome.signal }).toEqual({ status: 0, signal: null });
    expect(outcome.error?.name).toMatch(name);
    expect(outcome.error?.message).toMatch(message);
  };

  test("inputNames of a scripted module without forward is a TorchError naming the binding (was: abort)", () => {
    const outcome = runCase(`const m = await et.Module.loadTorchScript(${JSON.stringify(path.join(dir, "no_forward.pt"))}); return m.inputNames;`);
    expectTyped(outcome, /TorchError/, /NativeModule\.inputNames: .*forward/);
    expect(outcome.error?.code).toBe("ERR_TORCH");
  });

  test("TorchScriptEmbeddingsModel on a scripted file without forward rejects with a typed error (was: abort)", () => {
    const tokenizer = path.resolve(__dirname, "..", "fixtures", "bert-tiny");
    const outcome = runCase(`await et.TorchScriptEmbeddingsModel.load({ queryModel: ${JSON.stringify(path.join(dir, "no_forward.pt"))}, tokenizer: ${JSON.stringify(tokenizer)} });`);
    expectTyped(outcome, /TorchError|UnsupportedError/, /forward/);
  });

  test("setRequiresGrad(true) on an int64 parameter is a TorchError naming the binding, and the module stays usable (was: abort)", () => {
    const outcome = runCase(`
      const m = await et.Module.loadTorchScript(${JSON.stringify(path.join(dir, "int_parameter.pt"))});
      try { m.setRequiresGrad(["steps"], true); } catch (e) {
        const flags = m.namedParameters().map((p) => p.name + ":" + p.requiresGrad).join(",");
        e.message += " | after: " + flags;
        throw e;
      }`);
    expectTyped(outcome, /TorchError/, /NativeModule\.setRequiresGrad: .*floating point.*\| after: w:true,steps:false$/);
  });

  test("unfixQueryModel() on a TorchScript model holding an int64 parameter is a typed error, not an abort", () => {
    const tokenizer = path.resolve(__dirname, "..", "fixtures", "bert-tiny");
    const outcome = runCase(`
      const m = await et.TorchScriptEmbeddingsModel.load({ queryModel: ${JSON.stringify(path.join(dir, "int_parameter.pt"))}, tokenizer: ${JSON.stringify(tokenizer)} });
      m.unfixQueryModel();`);
    expect({ status: outcome.status, signal: outcome.signal }).toEqual({ status: 0, signal: null });
    // Either refused with a typed error, or done on the floating-point parameters only: never an abort.
    if (outcome.error) expect(outcome.error.name).toMatch(/TorchError|RangeError|TypeError/);
  });
});
