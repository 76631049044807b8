/**
 * The package's entries and shipped files: the ES module entry exports what
 * the CommonJS one does (the same objects), the shipped file list has no
 * source maps or development folders, and what README links is shipped.
 * .ci/package-check.sh installs the packed tarball and uses it; this checks
 * the same facts fast, on the repository's dist/.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..", "..");

test("dist/index.mjs exports every value dist/index.js does, as the same objects", () => {
  const script = `
    const cjs = require("./dist/index.js");
    import("./dist/index.mjs").then((esm) => {
      const names = Object.keys(cjs).filter((k) => k !== "__esModule").sort();
      const esmNames = Object.keys(esm).filter((k) => k !== "default").sort();
      const same = names.filter((k) => esm[k] === cjs[k]);
      console.log(JSON.stringify({ names, esmNames, same: same.length, defaultIsCjs: esm.default === cjs }));
    });`;
  const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8" })) as { names: string[]; esmNames: string[]; same: number; defaultIsCjs: boolean };
  expect(out.names.length).toBeGreaterThan(40);
  expect(out.esmNames).toEqual(out.names);
  expect(out.same).toBe(out.names.length);
  expect(out.defaultIsCjs).toBe(true);
});

test("package.json: exports map with import/require entries and their types, os/cpu, no install script, files that exist", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
    exports: Record<string, { import: { types: string; default: string }; require: { types: string; default: string } }>;
    os: string[]; cpu: string[]; scripts: Record<string, string>; gypfile: boolean; files: string[]; repository: { url: string }; license: string;
  };
  const main = pkg.exports["."];
  for (const file of [main?.import.types, main?.import.default, main?.require.types, main?.require.default]) expect(fs.existsSync(path.join(ROOT, file ?? "missing"))).toBe(true);
  expect(pkg.os).toEqual(["linux"]);
  expect(pkg.cpu).toEqual(["x64"]);
  // npm runs `node-gyp rebuild` for a package with binding.gyp unless an install script or gypfile: false says otherwise
  expect(pkg.scripts.install ?? pkg.scripts.preinstall ?? pkg.scripts.postinstall).toBeUndefined();
  expect(pkg.gypfile).toBe(false);
  expect(pkg.repository.url).toMatch(/^git\+https:/);
  expect(fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0/);
  for (const entry of pkg.files.filter((f) => !f.startsWith("!"))) expect(`${entry}: ${fs.existsSync(path.join(ROOT, entry))}`).toBe(`${entry}: true`);
});

test("npm pack ships no source maps and no lib/, test/ or bench/; README's relative links point at shipped files", () => {
  const listing = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8" })) as { files: { path: string }[] }[];
  const files = (listing[0]?.files ?? []).map((f) => f.path);
  expect(files.filter((f) => f.endsWith(".map") || /^(lib|test|bench)\//.test(f))).toEqual([]);
  expect(files).toEqual(expect.arrayContaining(["LICENSE", "README.md", "dist/index.js", "dist/index.mjs", "dist/index.d.mts", "models/default/config.json", "data/clickstream.jsonl", "prebuilds/manifest.json"]));
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#]+)/g)].map((m) => m[1] as string);
  expect(links.length).toBeGreaterThan(0);
  expect(links.filter((link) => !files.includes(link))).toEqual([]);
});
