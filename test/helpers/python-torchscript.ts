/**
 * Loads a TorchScript file in Debian's PyTorch (torch.jit.load) and reports
 * what PyTorch sees: parameters, forward's argument names, whether the
 * weights are read through prim::GetAttr, and forward's outputs on int64
 * batches given by name.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { runPython } from "./python";

export interface PythonView {
  /** named_parameters(): name and shape. */
  readonly parameters: [string, number[]][];
  /** forward's argument names, without self. */
  readonly arguments: string[];
  /** Whether forward's inlined graph reads attributes (prim::GetAttr). */
  readonly getAttr: boolean;
  /** Number of tensor constants in the inlined graph larger than 16 elements (frozen weights would show here). */
  readonly largeConstants: number;
  /** One flattened output per case (a tuple output: its first element). */
  readonly outputs: { shape: number[]; values: number[]; device: string }[];
}

/** A batch by input name: [batch][length] integer rows (int64 in PyTorch). */
export type IntCase = Readonly<Record<string, readonly (readonly number[])[]>>;

const SCRIPT = `
import json, sys, torch
m = torch.jit.load(sys.argv[1])
m.eval()
cases = json.load(open(sys.argv[2]))
graph = m.inlined_graph if hasattr(m, "inlined_graph") else m.forward.graph
large = 0
for node in graph.nodes():
    if node.kind() == "prim::Constant" and node.output().type().kind() == "TensorType":
        if node.t("value").numel() > 16:
            large += 1
outputs = []
# Inputs go where the weights are (a model traced on CUDA loads onto CUDA).
device = next(iter(m.parameters())).device if len(list(m.parameters())) else torch.device("cpu")
with torch.no_grad():
    for case in cases:
        y = m(**{k: torch.tensor(v, dtype=torch.int64, device=device) for k, v in case.items()})
        if isinstance(y, (tuple, list)):
            y = y[0]
        outputs.append({"shape": list(y.shape), "values": y.cpu().flatten().tolist(), "device": str(y.device)})
json.dump({
    "parameters": [[n, list(p.shape)] for n, p in m.named_parameters()],
    "arguments": [a.name for a in m.forward.schema.arguments][1:],
    "getAttr": any(n.kind() == "prim::GetAttr" for n in graph.nodes()),
    "largeConstants": large,
    "outputs": outputs,
}, open(sys.argv[3], "w"))
`;

export function viewInPyTorch(file: string, cases: readonly IntCase[]): PythonView {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-pyview-"));
  try {
    const input = path.join(dir, "cases.json");
    const output = path.join(dir, "view.json");
    fs.writeFileSync(input, JSON.stringify(cases));
    runPython(SCRIPT, [file, input, output]);
    return JSON.parse(fs.readFileSync(output, "utf8")) as PythonView;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Rows of a flat int64 array [batch, length]. */
export function rows(data: BigInt64Array, batch: number, length: number): number[][] {
  return Array.from({ length: batch }, (_, r) => Array.from(data.subarray(r * length, (r + 1) * length), Number));
}
