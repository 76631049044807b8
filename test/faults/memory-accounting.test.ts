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
