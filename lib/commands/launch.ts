/**
 * `embeddings-torch launch`: starts the processes of a data-parallel run on
 * this machine (as torchrun does) with RANK, LOCAL_RANK, WORLD_SIZE,
 * LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, prefixes each line they
 * print with their rank, forwards SIGINT/SIGTERM to them, and when one fails
 * stops the others and exits with the first failure's code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as readline from "node:readline";

import type { CommandIO } from "./io";
import { integer, UsageError } from "./usage";

export const LAUNCH_USAGE = `usage: embeddings-torch launch --nproc N [--nnodes M --node-rank R --master-addr A --master-port P]
         <script.js | command> [args...]

Starts N processes of a data-parallel run (Trainer strategy "ddp"): node R of M
runs ranks R*N .. R*N+N-1 of WORLD_SIZE = M*N. <script.js> runs with node;
anything else is an embeddings-torch command (e.g. finetune). Every process gets
RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR (default 127.0.0.1),
MASTER_PORT (default 29500) and, unless set, OMP_NUM_THREADS = cores / N.
Output lines are prefixed with "[rank K]"; SIGINT/SIGTERM are passed on; when
a process fails the others are stopped and launch exits with its code.
Everything after <script.js | command> is passed to it unchanged.`;

export interface LaunchPlan {
  readonly nproc: number;
  readonly nnodes: number;
  readonly nodeRank: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** The executable's arguments after node: a script or the CLI with a command, then its args. */
  readonly program: readonly string[];
}

const VALUE_FLAGS = ["--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port"] as const;

/** The CLI entry (dist/cli.js) for a command run under launch. */
function cliEntry(): string {
  const candidates = [path.join(__dirname, "..", "cli.js"), path.join(__dirname, "..", "..", "dist", "cli.js")];
  const found = candidates.find((c) => fs.existsSync(c));
  if (found === undefined) throw new UsageError(`launch: the embeddings-torch CLI was not found (${candidates.join(", ")}); build it (npm run build:ts) or launch a script.js`);
  return found;
}

/** Flags up to the first positional (the script or command); the rest is the program's. @throws UsageError */
export function parseLaunchArgs(args: readonly string[]): LaunchPlan | "help" {
  const values: Partial<Record<(typeof VALUE_FLAGS)[number], string>> = {};
  let i = 0;
  for (; i < args.length && (args[i] as string).startsWith("-"); i++) {
    const arg = args[i] as string;
    if (arg === "--help" || arg === "-h") return "help";
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (!(VALUE_FLAGS as readonly string[]).includes(flag)) throw new UsageError(`launch: unknown option ${JSON.stringify(flag)}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`launch: ${flag} needs a value`);
    values[flag as (typeof VALUE_FLAGS)[number]] = value;
  }
  const nproc = integer(values["--nproc"], "--nproc", 1);
  if (nproc === undefined) throw new UsageError("launch: missing --nproc");
  const nnodes = integer(values["--nnodes"], "--nnodes", 1) ?? 1;
  const nodeRank = integer(values["--node-rank"], "--node-rank", 0) ?? 0;
  if (nodeRank >= nnodes) throw new UsageError(`launch: --node-rank (${nodeRank}) must be below --nnodes (${nnodes})`);
  const masterPort = integer(values["--master-port"], "--master-port", 1) ?? 29500;
  if (masterPort > 65535) throw new UsageError(`launch: --master-port must be a port number (1-65535) but received ${masterPort}`);
  const target = args[i];
  if (target === undefined) throw new UsageError("launch: missing <script.js | command> to run");
  const rest = args.slice(i + 1);
  const program = /\.[cm]?js$/.test(target) ? [path.resolve(target), ...rest] : [cliEntry(), target, ...rest];
  return { nproc, nnodes, nodeRank, masterAddr: values["--master-addr"] ?? "127.0.0.1", masterPort, program };
}

/** The variables of local process `local` of the plan. */
export function launchEnvironment(plan: LaunchPlan, local: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    RANK: String(plan.nodeRank * plan.nproc + local),
    LOCAL_RANK: String(local),
    WORLD_SIZE: String(plan.nnodes * plan.nproc),
    LOCAL_WORLD_SIZE: String(plan.nproc),
    MASTER_ADDR: plan.masterAddr,
    MASTER_PORT: String(plan.masterPort),
    // N processes share the cores: libtorch's intra-op threads would oversubscribe them.
    OMP_NUM_THREADS: base.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / plan.nproc))),
  };
}

function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
}

/** Runs the plan's processes to their end; resolves with 0 or the first failure's exit code. */
export function runLaunch(plan: LaunchPlan, io: CommandIO): Promise<number> {
  return new Promise((resolve) => {
    const children: ChildProcess[] = [];
    let running = plan.nproc;
    let firstFailure: number | null = null;
    const forward = (signal: NodeJS.Signals) => () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    for (let local = 0; local < plan.nproc; local++) {
      const rank = plan.nodeRank * plan.nproc + local;
      const child = spawn(process.execPath, [...plan.program], { env: launchEnvironment(plan, local), stdio: ["inherit", "pipe", "pipe"] });
      children.push(child);
      readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => io.stdout(`[rank ${rank}] ${line}`));
      readline.createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => io.stderr(`[rank ${rank}] ${line}`));
      child.on("error", (error) => io.stderr(`[rank ${rank}] could not start: ${error.message}`));
      child.on("close", (code, signal) => {
        const status = exitCode(code, signal);
        if (status !== 0 && firstFailure === null) {
          firstFailure = status;
          io.stderr(`launch: rank ${rank} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; stopping the other ranks`);
          forward("SIGTERM")();
        }
        if (--running === 0) {
          process.off("SIGINT", onInt);
          process.off("SIGTERM", onTerm);
          resolve(firstFailure ?? 0);
        }
      });
    }
  });
}

export async function launchCommand(args: readonly string[], io: CommandIO): Promise<number> {
  const plan = parseLaunchArgs(args);
  if (plan === "help") {
    io.stdout(LAUNCH_USAGE);
    return 0;
  }
  return runLaunch(plan, io);
}
