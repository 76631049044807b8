/**
 * Native memory is reported to V8 once per storage, on every handle kind, so
 * the garbage collector sees what undisposed handles hold: aliases and views
 * add nothing, module parameters count, and undisposed modules are collected
 * before memory runs away. Measured in child processes: what the addon
 * reports (runtimeInfo().externalMemory, against the known sizes of the
 * tensors) and the RSS of a fresh process.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const DIST = path.resolve(__dirname, "..", "..", "dist");

function child(script: string, args: string[] = []): unknown {
  const run = spawnSync(process.execPath, [...args, "-e", `const et = require(${JSON.stringify(DIST)}); (async () => { ${script} })();`], { encoding: "utf8", timeout: 300_000 });
  if (run.status !== 0) throw new Error(`child failed (${run.status ?? run.signal}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "null");
}

const MiB = 1024 * 1024;

test("external memory grows by a tensor's bytes once, whatever aliases of it exist, and by a module's parameters once; dispose returns it", () => {
  const r = child(
    `
    const external = () => et.runtimeInfo().externalMemory;
    const base = external();
    const t = et.Tensor.from(new Float32Array(1024 * 1024), [1024, 1024]);          // 4 MiB
    const view = t.to("float32");                                                    // the same tensor again
    const afterTensor = external() - base;
    const aliases = Array.from({ length: 10 }, () => t.to("cpu"));                   // same storage
    const afterAliases = external() - base;
    const m = et.Module.create("mlp", { in_features: 2048, hidden_features: 2048, out_features: 1 });  // 16 MiB of fc1.weight
    const afterModule = external() - base;
    const state = m.stateDict();                                                      // aliases of the parameters
    const afterState = external() - base;
    for (const s of state.values()) s.dispose();
    m.dispose(); aliases.forEach((a) => a.dispose()); view.dispose(); t.dispose();
    console.log(JSON.stringify({ afterTensor, afterAliases, afterModule, afterState, end: external() - base }));`,
  ) as Record<string, number>;
  expect(Math.abs((r.afterTensor ?? 0) - 4 * MiB)).toBeLessThan(0.1 * MiB);
  expect(r.afterAliases).toBe(r.afterTensor);
  const moduleBytes = (2048 * 2048 + 2048 + 2048 + 1) * 4;
  expect(Math.abs((r.afterModule ?? 0) - (r.afterTensor ?? 0) - moduleBytes)).toBeLessThan(0.1 * MiB);
  expect(r.afterState).toBe(r.afterModule);
  expect(Math.abs(r.end ?? 1e9)).toBeLessThan(0.1 * MiB);
});

test("60 undisposed 32 MiB modules: the collector frees them as it goes (RSS stays far below the 1.9 GiB they would hold)", () => {
  const r = child(
    `
    let peak = 0;
    for (let i = 0; i < 60; i++) {
      et.Module.create("mlp", { in_features: 4096, hidden_features: 2048, out_features: 1 });   // 32 MiB, never disposed
      peak = Math.max(peak, process.memoryUsage().rss);
      await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(JSON.stringify({ peakMiB: peak / 1048576 }));`,
  ) as { peakMiB: number };
  expect(r.peakMiB).toBeLessThan(1000);
});

test("an AdamW optimizer's state (two moments per parameter) is reported once after its first step, survives later steps unchanged, and is returned on dispose", () => {
  const r = child(
    `
    const external = () => et.runtimeInfo().externalMemory;
    const m = et.Module.create("mlp", { in_features: 1024, hidden_features: 1024, out_features: 1 });  // 4 MiB of fc1.weight
    const optimizer = et.Optimizer.adamw(m, { lr: 1e-3 });
    const x = et.Tensor.from(new Float32Array(8 * 1024).fill(0.5), [8, 1024]);
    const base = external();
    const step = async () => {
      optimizer.zeroGrad();
      const out = await m.forward([x], { grad: true });
      const ones = et.Tensor.from(new Float32Array(8).fill(1), [8, 1]);
      await et.backward(out, ones);
      out.dispose(); ones.dispose();
      await optimizer.step();
    };
    await step();
    const afterFirst = external() - base;
    await step(); await step();
    const afterThird = external() - base;
    optimizer.dispose();
    if (global.gc) global.gc();
    await new Promise((resolve) => setImmediate(resolve));
    const afterDispose = external() - base;
    console.log(JSON.stringify({ afterFirst, afterThird, afterDispose }));`,
    ["--expose-gc"],
  ) as Record<string, number>;
  const parameterBytes = (1024 * 1024 + 1024 + 1024 + 1) * 4;
  // exp_avg and exp_avg_sq (gradients are parameters' .grad, not state).
  expect(Math.abs((r.afterFirst ?? 0) - 2 * parameterBytes)).toBeLessThan(0.6 * parameterBytes);
  expect(r.afterFirst ?? 0).toBeGreaterThanOrEqual(2 * parameterBytes);
  expect(r.afterThird).toBe(r.afterFirst);
  expect(Math.abs(r.afterDispose ?? 1e12)).toBeLessThan(0.1 * parameterBytes);
});
