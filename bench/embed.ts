/**
 * `embeddings-torch embed` throughput: 10,000 texts (the sample catalogue's
 * item texts and clickstream queries, cycled with a running number) embedded
 * by the demo's model (models/default: BERT, hidden 128, 4 layers) through the
 * CLI's main(), .txt in, .npy out, tokenization and file writing included;
 * batch sizes 32 and 128. Not run by the tests.
 *
 *   node -r ./test/helpers/register-ts.js bench/embed.ts [texts=10000]
 *
 * Writes bench/results/embed.md.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { main } from "../lib/cli";
import { getNumThreads, runtimeInfo } from "../lib";

async function run(): Promise<void> {
  const count = Number(process.argv[2] ?? 10000);
  const root = path.resolve(__dirname, "..");
  const lines = (file: string) => fs.readFileSync(path.join(root, "data", file), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { text?: string; query?: string });
  const pool = [...lines("catalogue.jsonl").map((r) => r.text ?? ""), ...lines("clickstream.jsonl").map((r) => r.query ?? "")].filter((t) => t !== "");
  const texts = Array.from({ length: count }, (_, i) => `${pool[i % pool.length] as string} ${Math.floor(i / pool.length)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-embed-"));
  const input = path.join(dir, "texts.txt");
  fs.writeFileSync(input, `${texts.join("\n")}\n`);
  const load = os.loadavg()[0]?.toFixed(2) ?? "?";
  const rows: string[] = [];
  const quiet = { stdout: () => undefined, stderr: () => undefined };
  // Load libtorch once first (about a second), so neither row carries it.
  fs.writeFileSync(path.join(dir, "warm.txt"), "warm up\n");
  await main(["embed", "--model", path.join(root, "models", "default"), "--kind", "bert", "--input", path.join(dir, "warm.txt"), "--output", path.join(dir, "warm.npy")], quiet);
  for (const batch of ["32", "128"]) {
    const started = process.hrtime.bigint();
    const code = await main(["embed", "--model", path.join(root, "models", "default"), "--kind", "bert", "--input", input, "--output", path.join(dir, `e${batch}.npy`), "--batch-size", batch, "--max-length", "32"], quiet);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) throw new Error(`embed exited ${code}`);
    rows.push(`| ${count} | ${batch} | ${seconds.toFixed(1)} | ${(count / seconds).toFixed(0)} |`);
    console.log(rows.at(-1));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const info = runtimeInfo();
  const report = [
    "# `embeddings-torch embed` throughput",
    "",
    `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} vCPUs (${os.cpus()[0]?.model ?? "?"}), load average ${load} at the start (shared machine), libtorch ${info.torchVersion}, ${getNumThreads()} intra-op threads; models/default (BERT hidden 128, 4 layers), max length 32, \`--kind bert\`, .txt in, .npy out, everything but loading libtorch included (loading the model, tokenizing, writing).`,
    "",
    "| texts | batch size | seconds | texts/s |",
    "|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  fs.writeFileSync(path.join(root, "bench", "results", "embed.md"), report);
  console.log(report);
}

run().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
