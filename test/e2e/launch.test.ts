/**
 * `embeddings-torch launch`: the variables each process gets, rank-prefixed
 * output, the first failure's exit code with the other ranks stopped, and
 * SIGTERM passed on. The processes are small node scripts (no training).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { parseLaunchArgs, runLaunch } from "../../lib/commands/launch";
import { runCli } from "../helpers/cli";

jest.setTimeout(60_000);

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "et-launch-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, body);
  return file;
}

function collect() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) } };
}

test("every process gets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT (node 1 of 2: ranks 2 and 3) and its lines come prefixed with its rank", async () => {
  const file = script("env.js", `const e = process.env; console.log([e.RANK, e.LOCAL_RANK, e.WORLD_SIZE, e.LOCAL_WORLD_SIZE, e.MASTER_ADDR, e.MASTER_PORT, process.argv[2]].join(" "));`);
  const plan = parseLaunchArgs(["--nproc", "2", "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.5", "--master-port=29999", file, "--flag-for-script"]);
  if (plan === "help") throw new Error("unexpected help");
  const c = collect();
  expect(await runLaunch(plan, c.io)).toBe(0);
  expect(c.out.sort()).toEqual(["[rank 2] 2 0 4 2 10.0.0.5 29999 --flag-for-script", "[rank 3] 3 1 4 2 10.0.0.5 29999 --flag-for-script"]);
});

test("a rank that fails stops the others and launch exits with its code", async () => {
  const file = script("fail.js", `if (process.env.RANK === "1") { console.error("rank one fails"); process.exit(3); } setInterval(() => {}, 1000);`);
  const c = collect();
  const plan = parseLaunchArgs(["--nproc", "3", file]);
  if (plan === "help") throw new Error("unexpected help");
  expect(await runLaunch(plan, c.io)).toBe(3);
  expect(c.err).toContain("[rank 1] rank one fails");
  expect(c.err).toContain("launch: rank 1 exited with code 3; stopping the other ranks");
});

test("SIGTERM to launch reaches every rank", async () => {
  const file = script("term.js", `process.on("SIGTERM", () => { console.log("got SIGTERM"); process.exit(0); }); console.log("ready"); setInterval(() => {}, 1000);`);
  const plan = parseLaunchArgs(["--nproc", "2", file]);
  if (plan === "help") throw new Error("unexpected help");
  const out: string[] = [];
  const done = runLaunch(plan, {
    stdout: (line) => {
      out.push(line);
      if (out.filter((l) => l.endsWith("ready")).length === 2 && line.endsWith("ready")) process.emit("SIGTERM");
    },
    stderr: () => {},
  });
  expect(await done).toBe(0);
  expect(out.filter((l) => l.endsWith("got SIGTERM")).sort()).toEqual(["[rank 0] got SIGTERM", "[rank 1] got SIGTERM"]);
});

test("launch without --nproc or without a program is a usage error (exit code 2)", async () => {
  expect(await runCli("launch", "x.js")).toMatchObject({ code: 2, err: expect.stringContaining("missing --nproc") });
  expect(await runCli("launch", "--nproc", "2")).toMatchObject({ code: 2, err: expect.stringContaining("missing <script.js | command>") });
  expect(await runCli("launch", "--nproc", "2", "--nnodes", "2", "--node-rank", "2", "x.js")).toMatchObject({ code: 2, err: expect.stringContaining("--node-rank (2) must be below --nnodes (2)") });
});
