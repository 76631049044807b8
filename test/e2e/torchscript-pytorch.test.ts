import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Module, Tensor, TorchError } from "../../lib";
import { pythonTorchMissing, runPython } from "../helpers/python";
import { reportSkip } from "../helpers/skip";

const missing = pythonTorchMissing();
const describeWithPython = missing ? describe.skip : describe;
if (missing) reportSkip(`skipped TorchScript-from-PyTorch tests: ${missing}`);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-torchscript-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describeWithPython("TorchScript files saved by Debian's PyTorch", () => {
  test("load and forward give PyTorch's own outputs (scripted module with two named inputs)", async () => {
    const file = path.join(dir, "scripted.pt");
    const out = path.join(dir, "expected.json");
    runPython(
      `
import json, sys, torch
torch.manual_seed(0)
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 6)
        self.proj = torch.nn.Linear(6, 3)
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1).float()
        return torch.tanh(self.proj(h.sum(1) / attention_mask.sum(1, keepdim=True).float()))
m = torch.jit.script(M().eval())
m.save(sys.argv[1])
ids = torch.tensor([[1, 5, 9, 0], [3, 4, 0, 0]])
mask = (ids != 0).long()
json.dump(m(ids, mask).flatten().tolist(), open(sys.argv[2], "w"))
`,
      [file, out],
    );
    const expected = JSON.parse(fs.readFileSync(out, "utf8")) as number[];
    using m = await Module.loadTorchScript(file);
    expect(m.kind).toBe("torchscript");
    expect(m.inputNames).toEqual(["input_ids", "attention_mask"]);
    expect(m.namedParameters().map((p) => p.name)).toEqual(["emb.weight", "proj.weight", "proj.bias"]);
    using ids = Tensor.from(new BigInt64Array([1n, 5n, 9n, 0n, 3n, 4n, 0n, 0n]), [2, 4]);
    using mask = Tensor.from(new BigInt64Array([1n, 1n, 1n, 0n, 1n, 1n, 0n, 0n]), [2, 4]);
    using y = await m.forwardTensor({ attention_mask: mask, input_ids: ids });
    expect(y.shape).toEqual([2, 3]);
    const got = y.toFloat32Array();
    expected.forEach((v, i) => expect(Math.abs((got[i] as number) - v)).toBeLessThan(1e-6));
  });

  test("a file that is not TorchScript is a TorchError naming the file, not a crash", async () => {
    const file = path.join(dir, "not-torchscript.pt");
    fs.writeFileSync(file, "definitely not a zip archive");
    await expect(Module.loadTorchScript(file)).rejects.toThrow(TorchError);
    await expect(Module.loadTorchScript(file)).rejects.toThrow(/loadTorchScript\(".*not-torchscript\.pt"\)/);
  });

  test("a missing file rejects naming it", async () => {
    await expect(Module.loadTorchScript(path.join(dir, "absent.pt"))).rejects.toThrow(/absent\.pt/);
  });
});
