import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { LoadEnvironment } from "../../lib";
import { openblasCoreFor } from "../../lib/environment";
import { NATIVE_INTERFACE_VERSION } from "../../lib/native";
import { prebuildCandidates, readManifest } from "../../lib/prebuilds";
import { reportSkip } from "../helpers/skip";

const ROOT = path.resolve(__dirname, "..", "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nativeHash } = require("../../scripts/native-hash.js") as { nativeHash(root: string): string };

/** Runs a snippet against dist/ (built by npm test) in a fresh Node process: one addon per process. */
function inChild(env: Record<string, string>, script: string): unknown {
  const out = execFileSync(process.execPath, ["-e", script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return JSON.parse(out);
}

describe("committed CPU prebuild", () => {
  const entry = readManifest(ROOT).find((e) => e.platform === "linux" && e.arch === "x64" && e.cuda === null);

  test("prebuilds/manifest.json lists a linux-x64 CPU prebuild that exists", () => {
    expect(entry).toBeDefined();
    expect(fs.existsSync(path.join(ROOT, "prebuilds", entry?.file ?? "missing"))).toBe(true);
  });

  test("is built from the committed native sources (rebuild: npm run build:native && npm run prebuild:cpu)", () => {
    const current = nativeHash(ROOT);
    if (entry?.nativeHash !== current)
      throw new Error(`prebuilds/${entry?.file} is stale: built from native sources ${entry?.nativeHash.slice(0, 12)}, the tree has ${current.slice(0, 12)}. Rebuild it on Debian 12: npm run build:native && npm run prebuild:cpu`);
    expect(entry.nativeHash).toBe(current);
  });

  test("loads in a fresh process, reports the recorded hash, and runs a forward", () => {
    const file = path.join(ROOT, "prebuilds", entry?.file ?? "missing");
    const result = inChild(
      { EMBEDDINGS_TORCH_ADDON: file },
      `const { Module, Tensor, runtimeInfo } = require("./dist");
       const m = Module.create("mlp", { in_features: 2, hidden_features: 3, out_features: 1 });
         m.forwardTensor([Tensor.from(new Float32Array([1, 2]), [1, 2])]).then((y) => console.log(JSON.stringify({ info: runtimeInfo(), shape: y.shape })));`,
    ) as { info: { nativeHash: string; addon: string; torchVersion: string }; shape: number[] };
    expect(result.info.addon).toBe(file);
    expect(result.info.nativeHash).toBe(entry?.nativeHash);
    expect(result.info.torchVersion).toBe(entry?.torchVersion);
    expect(result.shape).toEqual([1, 1]);
  });

  test("without a source build, node-gyp-build resolves the prebuild from prebuilds/linux-x64", () => {
    const fake = fs.mkdtempSync(path.join(os.tmpdir(), "et-prebuild-"));
    try {
      fs.copyFileSync(path.join(ROOT, "package.json"), path.join(fake, "package.json"));
      fs.cpSync(path.join(ROOT, "prebuilds"), path.join(fake, "prebuilds"), { recursive: true });
      const [first] = prebuildCandidates(fake, NATIVE_INTERFACE_VERSION, { env: {}, driverPresent: () => false });
      expect(first?.file).toBe(path.join(fake, "prebuilds", "linux-x64", "embeddings-torch.napi.node"));
      expect(first?.origin).toMatch(/CPU prebuild for libtorch/);
    } finally {
      fs.rmSync(fake, { recursive: true, force: true });
    }
  });
});

describe("loader errors", () => {
  test("an addon that cannot be loaded gives an AddonLoadError listing the path, the error and the fixes", () => {
    let message = "";
    try {
      execFileSync(process.execPath, ["-e", `require("./dist").runtimeInfo()`], {
        cwd: ROOT,
        env: { ...process.env, EMBEDDINGS_TORCH_ADDON: "/nonexistent/embeddings_torch.node" },
        stdio: ["ignore", "pipe", "pipe"],
        encoding: "utf8",
      });
    } catch (error) {
      message = String((error as { stderr?: string }).stderr);
    }
    expect(message).toMatch(/AddonLoadError/);
    expect(message).toMatch(/\/nonexistent\/embeddings_torch\.node \(EMBEDDINGS_TORCH_ADDON\)/);
    expect(message).toMatch(/apt-get install -y libtorch-dev libopenblas0-pthread/);
    // a repository checkout with its devDependencies: the source build can work here
    expect(message).toMatch(/npm run build:native/);
  });

  test("a prebuild whose libtorch is missing names the library, the libtorch version it needs, and how to install it", () => {
    const entry = readManifest(ROOT).find((e) => e.cuda === null);
    if (!entry) throw new Error("no CPU prebuild in prebuilds/manifest.json");
    // A copy of the package whose prebuild asks for libc10.so.9.99: the same
    // bytes with the NEEDED name edited (same length), as if libtorch 9.99 were missing.
    const fake = fs.mkdtempSync(path.join(os.tmpdir(), "et-missing-"));
    try {
      fs.cpSync(path.join(ROOT, "dist"), path.join(fake, "dist"), { recursive: true });
      fs.copyFileSync(path.join(ROOT, "package.json"), path.join(fake, "package.json"));
      fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(fake, "node_modules"));
      fs.cpSync(path.join(ROOT, "prebuilds"), path.join(fake, "prebuilds"), { recursive: true });
      const file = path.join(fake, "prebuilds", entry.file);
      const bytes = fs.readFileSync(file);
      const from = Buffer.from(`libc10.so.${entry.torchVersion.split(".").slice(0, 2).join(".")}\0`);
      const at = bytes.indexOf(from);
      expect(at).toBeGreaterThan(0);
      Buffer.from("libc10.so.9.99\0").copy(bytes, at);
      fs.writeFileSync(file, bytes);
      let message = "";
      try {
        execFileSync(process.execPath, ["-e", `require(${JSON.stringify(path.join(fake, "dist"))})`], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
      } catch (error) {
        message = String((error as { stderr?: string }).stderr);
      }
      expect(message).toMatch(/AddonLoadError/);
      expect(message).toMatch(/libc10\.so\.9\.99 is missing: this addon was built for libtorch 1\.13\.0 \(CPU\)/);
      expect(message).toMatch(/apt-get install -y libtorch-dev libopenblas0-pthread/);
      // an installed package (no CMakeLists.txt, no cmake-js): no "npm run build:native", the clone route instead
      expect(message).not.toMatch(/npm run build:native/);
      expect(message).toMatch(/build the addon in a clone of the repository \(bash scripts\/setup\.sh\)/);
    } finally {
      fs.rmSync(fake, { recursive: true, force: true });
    }
  });

  test("the loader picks the CPU's OpenBLAS core before libtorch loads (runtimeInfo().environment says so), keeps the user's, and `auto` leaves OpenBLAS to itself", () => {
    const script = `console.log(JSON.stringify(require("./dist").runtimeInfo().environment))`;
    const env: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && k !== "OPENBLAS_CORETYPE" && k !== "EMBEDDINGS_TORCH_OPENBLAS_CORETYPE")) as Record<string, string>;
    const expected = openblasCoreFor(fs.readFileSync("/proc/cpuinfo", "utf8"));
    const chosen = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, env, encoding: "utf8" })) as LoadEnvironment;
    expect(chosen.OPENBLAS_CORETYPE).toBe(expected);
    expect(chosen.setByLoader.includes("OPENBLAS_CORETYPE")).toBe(expected !== null);
    const users = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, env: { ...env, OPENBLAS_CORETYPE: "Prescott" }, encoding: "utf8" })) as LoadEnvironment;
    expect(users.OPENBLAS_CORETYPE).toBe("Prescott");
    expect(users.setByLoader).not.toContain("OPENBLAS_CORETYPE");
    const auto = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, env: { ...env, EMBEDDINGS_TORCH_OPENBLAS_CORETYPE: "auto" }, encoding: "utf8" })) as LoadEnvironment;
    expect(auto.OPENBLAS_CORETYPE).toBeNull();
  });

  test("this machine's OpenBLAS takes the core the loader picks (openblas_get_corename() under that OPENBLAS_CORETYPE)", () => {
    const core = openblasCoreFor(fs.readFileSync("/proc/cpuinfo", "utf8"));
    if (core === null) {
      reportSkip("skipped: this CPU has neither AVX-512 nor AVX2: the loader leaves OpenBLAS to itself");
      return;
    }
    const probe = `import ctypes; lib = ctypes.CDLL("libopenblas.so.0"); lib.openblas_get_corename.restype = ctypes.c_char_p; print(lib.openblas_get_corename().decode())`;
    let name: string;
    try {
      name = execFileSync("/usr/bin/python3", ["-c", probe], { env: { ...process.env, OPENBLAS_CORETYPE: core }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    } catch (error) {
      reportSkip(`skipped: no libopenblas.so.0 for /usr/bin/python3 to ask (${String((error as Error).message).split("\n")[0]})`);
      return;
    }
    expect(name.toLowerCase()).toBe(core.toLowerCase());
  });

  test("the loader sets OMP_WAIT_POLICY=PASSIVE before libtorch loads, unless the user set it", () => {
    const script = `require("./dist").runtimeInfo(); console.log(JSON.stringify(process.env.OMP_WAIT_POLICY))`;
    const env = { ...process.env };
    delete env.OMP_WAIT_POLICY;
    expect(JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, env, encoding: "utf8" }))).toBe("PASSIVE");
    expect(JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, env: { ...env, OMP_WAIT_POLICY: "ACTIVE" }, encoding: "utf8" }))).toBe("ACTIVE");
  });
});
