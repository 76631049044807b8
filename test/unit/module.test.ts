import { BusyError, DisposedError, Module, ShapeError, Tensor } from "../../lib";
import { native } from "../../lib/native";
import { runtimeInfo } from "../../lib/runtime";

/** y = fc2(relu(fc1(x))) computed in JS from the module's own state dict: an independent reference. */
function referenceMlp(module: Module, x: Float32Array, batch: number): Float32Array {
  const state = module.stateDict();
  const get = (k: string) => {
    const t = state.get(k);
    if (!t) throw new Error(`no ${k}`);
    return { data: t.toFloat32Array(), shape: t.shape };
  };
  const linear = (input: Float32Array, w: { data: Float32Array; shape: readonly number[] }, b: Float32Array, relu: boolean) => {
    const [out = 0, inp = 0] = w.shape;
    const y = new Float32Array(batch * out);
    for (let n = 0; n < batch; n++)
      for (let o = 0; o < out; o++) {
        let acc = b[o] as number;
        for (let i = 0; i < inp; i++) acc += (input[n * inp + i] as number) * (w.data[o * inp + i] as number);
        y[n * out + o] = relu ? Math.max(0, acc) : acc;
      }
    return y;
  };
  const h = linear(x, get("fc1.weight"), get("fc1.bias").data, true);
  const y = linear(h, get("fc2.weight"), get("fc2.bias").data, false);
  for (const t of state.values()) t.dispose();
  return y;
}

function randn(n: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

describe("Module (C++ MLP)", () => {
  test("lists parameters with names, shapes, dtype and requiresGrad", () => {
    using m = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
    expect(m.kind).toBe("mlp");
    expect(m.inputNames).toEqual(["input"]);
    expect(m.namedParameters()).toEqual([
      { name: "fc1.weight", shape: [16, 8], dtype: "float32", requiresGrad: true },
      { name: "fc1.bias", shape: [16], dtype: "float32", requiresGrad: true },
      { name: "fc2.weight", shape: [4, 16], dtype: "float32", requiresGrad: true },
      { name: "fc2.bias", shape: [4], dtype: "float32", requiresGrad: true },
    ]);
    expect(runtimeInfo().architectures).toContain("mlp");
  });

  test("forward (positional and named) equals the same math done in JS", async () => {
    using m = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
    const x = randn(3 * 8, 7);
    using input = Tensor.from(x, [3, 8]);
    using y1 = await m.forwardTensor([input]);
    using y2 = await m.forwardTensor({ input });
    const expected = referenceMlp(m, x, 3);
    expect(y1.shape).toEqual([3, 4]);
    const got = y1.toFloat32Array();
    for (let i = 0; i < expected.length; i++) expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThan(1e-5);
    expect(Array.from(y2.toFloat32Array())).toEqual(Array.from(got));
  });

  test("host-array inputs (positional and named) give exactly the Tensor inputs' result, also through an addon older than revision 3", async () => {
    using m = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
    const x = randn(3 * 8, 11);
    using input = Tensor.from(x, [3, 8]);
    using reference = await m.forwardTensor([input]);
    const expected = Array.from(reference.toFloat32Array());
    using positional = await m.forwardTensor([{ data: x, shape: [3, 8] }]);
    using named = await m.forwardTensor({ input: { data: x, shape: [3, 8] } });
    expect(Array.from(positional.toFloat32Array())).toEqual(expected);
    expect(Array.from(named.toFloat32Array())).toEqual(expected);
    // The CUDA prebuild may be older: Module.forward then makes Tensors of the arrays itself.
    const addon = native() as { interfaceRevision?: number };
    const revision = addon.interfaceRevision ?? 1;
    addon.interfaceRevision = 2;
    try {
      using old = await m.forwardTensor({ input: { data: x, shape: [3, 8] } });
      expect(Array.from(old.toFloat32Array())).toEqual(expected);
    } finally {
      addon.interfaceRevision = revision;
    }
  });

  test("expectForward keeps the compute thread awake for a bounded time only (~0.5 ms of CPU, not the 200 ms waited)", async () => {
    using m = Module.create("mlp", { in_features: 8 });
    using x = Tensor.from(randn(8, 5), [1, 8]);
    (await m.forwardTensor([x])).dispose();  // the compute thread exists and sleeps
    const spent = async (hint: boolean): Promise<number> => {
      await new Promise((r) => setTimeout(r, 50));
      const before = process.cpuUsage();
      if (hint) m.expectForward();
      await new Promise((r) => setTimeout(r, 200));
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1000;
    };
    const idle = await spent(false);
    const hinted = await spent(true);
    expect(hinted - idle).toBeLessThan(20);
    using y = await m.forwardTensor([x]);  // and the next forward runs as before
    expect(y.shape).toEqual([1, 4]);
  });

  test("setRequiresGrad by prefix and by names changes exactly those parameters", () => {
    using m = Module.create("mlp");
    expect(m.setRequiresGrad("fc1", false)).toBe(2);
    expect(m.namedParameters().map((p) => [p.name, p.requiresGrad])).toEqual([
      ["fc1.weight", false],
      ["fc1.bias", false],
      ["fc2.weight", true],
      ["fc2.bias", true],
    ]);
    expect(m.setRequiresGrad(["fc1.bias", "fc2.bias"], true)).toBe(1);
    expect(m.namedParameters().filter((p) => p.requiresGrad).map((p) => p.name)).toEqual(["fc1.bias", "fc2.weight", "fc2.bias"]);
    expect(() => m.setRequiresGrad("fc3", false)).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/no parameter under "fc3"/) }));
    expect(() => m.setRequiresGrad(["fc1.wieght"], false)).toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/no parameter named fc1\.wieght/) }));
  });

  test("train()/eval() switch the mode", () => {
    using m = Module.create("mlp");
    expect(m.isTraining).toBe(false);
    m.train();
    expect(m.isTraining).toBe(true);
    m.eval();
    expect(m.isTraining).toBe(false);
  });

  test("to(dtype) casts parameters and forward then needs that dtype", async () => {
    using m = Module.create("mlp");
    m.to("float64");
    expect(m.namedParameters().every((p) => p.dtype === "float64")).toBe(true);
    using x = Tensor.from(new Float64Array(8), [1, 8]);
    using y = await m.forwardTensor([x]);
    expect(y.dtype).toBe("float64");
  });

  test("autocast bfloat16 runs the matrix products in bfloat16, close to float32, and float32 after", async () => {
    using m = Module.create("mlp", { in_features: 8, hidden_features: 16, out_features: 4 });
    const x = randn(4 * 8, 11);
    using input = Tensor.from(x, [4, 8]);
    using mixed = await m.forwardTensor([input], { autocast: "bfloat16" });
    using strict = await m.forwardTensor([input]);
    expect(mixed.dtype).toBe("bfloat16");
    expect(strict.dtype).toBe("float32");
    const a = mixed.toFloat32Array();
    const b = strict.toFloat32Array();
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
    expect(maxDiff).toBeGreaterThan(0);  // it really ran in lower precision
    expect(maxDiff).toBeLessThan(3e-2);
    await expect(m.forward([input], { autocast: "int8" as never })).rejects.toThrow(expect.objectContaining({ name: "RangeError" }));
  });

  test("a wrong input shape rejects with a ShapeError naming the expected and received shapes", async () => {
    using m = Module.create("mlp", { in_features: 8 });
    using x = Tensor.from(new Float32Array(6), [2, 3]);
    await expect(m.forward([x])).rejects.toThrow(ShapeError);
    await expect(m.forward([x])).rejects.toThrow(/mlp input must be \[batch, 8\], got \[2, 3\]/);
    await expect(m.forward({ inputs: x })).rejects.toThrow(expect.objectContaining({ name: "RangeError", message: expect.stringMatching(/unknown input "inputs"; the module takes input/) }));
    await expect(m.forward([x, x])).rejects.toThrow(/got 2 inputs but the module takes 1 \(input\)/);
  });

  test("a native rejection carries the caller's stack", async () => {
    using m = Module.create("mlp", { in_features: 8 });
    using x = Tensor.from(new Float32Array(3), [1, 3]);
    const error = (await m.forward([x]).then(
      () => new Error("forward resolved"),
      (e: unknown) => e as Error,
    ));
    expect(error.stack).toMatch(/module\.test\.ts/);
  });

  test("an unknown architecture names the ones the addon has", () => {
    expect(() => Module.create("gpt9")).toThrow(/unknown architecture 'gpt9'; this addon has: .*mlp/);
  });

  test("50 concurrent forwards on one module all return their own correct result", async () => {
    using m = Module.create("mlp", { in_features: 8, hidden_features: 32, out_features: 4 });
    const inputs = Array.from({ length: 50 }, (_, i) => randn(2 * 8, i + 1));
    const tensors = inputs.map((x) => Tensor.from(x, [2, 8]));
    const outputs = await Promise.all(tensors.map((t) => m.forwardTensor([t])));
    outputs.forEach((y, i) => {
      const expected = referenceMlp(m, inputs[i] as Float32Array, 2);
      const got = y.toFloat32Array();
      expected.forEach((v, j) => expect(Math.abs((got[j] as number) - v)).toBeLessThan(1e-5));
      y.dispose();
    });
    tensors.forEach((t) => t.dispose());
  });

  test("the event loop keeps ticking during a long forward (2048x1024 → 4096 → 1024)", async () => {
    using m = Module.create("mlp", { in_features: 1024, hidden_features: 4096, out_features: 1024 });
    using x = Tensor.from(new Float32Array(2048 * 1024).fill(0.01), [2048, 1024]);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    const y = await m.forwardTensor([x]);
    const elapsed = Date.now() - started;
    clearInterval(timer);
    y.dispose();
    // A forward of ~34 GFLOP takes well over 50 ms on 2 cores (~150 ms on an AVX-512 Xeon, where
    // 512 rows took 41 ms); a blocked loop would tick 0 times.
    expect(elapsed).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 5 / 4));
  });

  test("dispose() while a forward is in flight throws BusyError; the forward still resolves", async () => {
    const m = Module.create("mlp", { in_features: 1024, hidden_features: 2048, out_features: 8 });
    using x = Tensor.from(new Float32Array(512 * 1024), [512, 1024]);
    const pending = m.forwardTensor([x]);
    expect(() => m.dispose()).toThrow(BusyError);
    expect(() => m.train()).toThrow(/in flight/);
    using y = await pending;
    expect(y.shape).toEqual([512, 8]);
    m.dispose();
    expect(() => m.namedParameters()).toThrow(DisposedError);
  });

  test("disposing an input tensor while its forward is in flight is safe", async () => {
    using m = Module.create("mlp", { in_features: 256, hidden_features: 4096, out_features: 2 });
    const data = randn(256 * 256, 3);
    const x = Tensor.from(data, [256, 256]);
    const pending = m.forwardTensor([x]);
    x.dispose();
    using y = await pending;
    const expected = referenceMlp(m, data, 256);
    const got = y.toFloat32Array();
    for (let i = 0; i < 8; i++) expect(Math.abs((got[i] as number) - (expected[i] as number))).toBeLessThan(1e-4);
  });
});
