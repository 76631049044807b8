/** Spawning the processes of a data-parallel test on 127.0.0.1 (test/helpers/ddp-worker.ts). */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";

import { dataParallelSupport } from "../../lib/training/distributed/support";
import type { WorkerSpec } from "./ddp-worker";
import { reportSkip } from "./skip";

const ROOT = path.resolve(__dirname, "../..");

/** Whether this addon can train CPU models data-parallel (c10d/Gloo); prints why not (the tests skip then). */
export function ddpAvailable(suite: string): boolean {
  const support = dataParallelSupport("cpu");
  if (!support.available) reportSkip(`${suite}: skipped: ${support.reason}`);
  return support.available;
}

/** A port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly output: { parameters: Record<string, number[]>; losses: number[]; globalStep: number; validations: Record<string, number>[] } | null;
}

// The worker as TypeScript here, as JavaScript where the tests run compiled (scripts/gpu-pack.sh: no TypeScript there).
const WORKER = __filename.endsWith(".js") ? [path.join(__dirname, "ddp-worker.js")] : ["-r", path.join(ROOT, "test/helpers/register-ts.js"), path.join(ROOT, "test/helpers/ddp-worker.ts")];

/** Runs one worker process to its end; `env` adds RANK etc. for strategy "ddp". */
export function runWorker(spec: WorkerSpec, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...WORKER, JSON.stringify(spec)], {
      cwd: ROOT,
      env: { ...process.env, OMP_NUM_THREADS: "1", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code, signal) => {
      const output = code === 0 && fs.existsSync(spec.out) ? JSON.parse(fs.readFileSync(spec.out, "utf8")) : null;
      resolve({ code, signal, stderr, output });
    });
  });
}

/** `worldSize` ranks of one run on 127.0.0.1 (each spec gets its own `out`); `ranks` limits which are started; `env` adds variables. */
export async function runRanks(worldSize: number, spec: (rank: number) => WorkerSpec, ranks?: readonly number[], env: Record<string, string> = {}): Promise<RunResult[]> {
  const port = await freePort();
  const started = ranks ?? Array.from({ length: worldSize }, (_, r) => r);
  return Promise.all(
    started.map((rank) =>
      runWorker(spec(rank), { RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: "127.0.0.1", MASTER_PORT: String(port), GLOO_SOCKET_IFNAME: "lo", ...env }),
    ),
  );
}

/** Largest |a - b| over every parameter (both runs must hold the same names and sizes). */
export function maxParameterDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const [name, values] of Object.entries(a)) {
    const other = b[name] as number[];
    expect(other.length).toBe(values.length);
    for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs((values[i] as number) - (other[i] as number)));
  }
  return worst;
}
