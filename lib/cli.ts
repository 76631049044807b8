#!/usr/bin/env node
/**
 * The command line: `embeddings-torch <command> [options]`.
 *
 *   export-triton --model <folder> --kind <kind> --repository <dir> --name <name>
 *                 [--version N] [--device cpu|cuda|cuda:N] [--max-length N]
 *                 [--max-batch-size N] [--instances N] [--fixed-length] [--overwrite]
 *   demo          [--model <folder>] [--data <dir>] [--out <dir>] [--epochs N] [--max-steps N]
 *                 [--max-length N] [--no-export]
 *   finetune      --model <id|dir> --data <clickstream.jsonl> --out <dir> [...]   (lib/commands/finetune.ts)
 *   embed         --model <id|dir> --input <.txt|.jsonl> --output <.jsonl|.npy> [...]   (lib/commands/embed.ts)
 *   evaluate      --model <id|dir> --data <clickstream.jsonl> [...]   (lib/commands/evaluate.ts)
 *   launch        --nproc N [...] <script.js | command> [args]   (lib/commands/launch.ts)
 *   help [command], --help, -h: usage on stdout; --version, -v: the package version
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";

import { checkDevice } from "./device";
import { exportToTriton } from "./inference/triton/export";
import { ModelStorageInfo } from "./inference/triton/storage-manager";
import { modelKind, modelKinds } from "./models";
import { demo } from "./training/demo";
import { EMBED_USAGE, embedCommand } from "./commands/embed";
import { EVALUATE_USAGE, evaluateCommand } from "./commands/evaluate";
import { FINETUNE_USAGE, finetuneCommand } from "./commands/finetune";
import { LAUNCH_USAGE, launchCommand } from "./commands/launch";
import { integer, UsageError } from "./commands/usage";

export interface CliIO {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}


const EXPORT_USAGE = `usage: embeddings-torch export-triton --model <folder|hub id> --kind <kind> --repository <dir> --name <name>
         [--revision <branch|tag|commit>] [--version N] [--device cpu|cuda|cuda:N] [--max-length N]
         [--max-batch-size N] [--instances N] [--fixed-length] [--overwrite]

A Hub id ("org/name") loads from the Hugging Face cache (HF_HOME, HF_HUB_CACHE),
downloading what it lacks unless HF_HUB_OFFLINE=1.
Traces the query and items models of the model and writes them with their
config.pbtxt into the Triton repository <dir>: "<name>_query" and
"<name>_items", or one model "<name>" when both towers are the same module.
A deployed version is left untouched unless --overwrite.`;


async function exportTriton(args: readonly string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: "string" },
      revision: { type: "string" },
      kind: { type: "string" },
      repository: { type: "string" },
      name: { type: "string" },
      version: { type: "string" },
      device: { type: "string" },
      "max-length": { type: "string" },
      "max-batch-size": { type: "string" },
      instances: { type: "string" },
      "fixed-length": { type: "boolean" },
      overwrite: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(EXPORT_USAGE);
    return 0;
  }
  const missing = (["model", "kind", "repository", "name"] as const).filter((k) => values[k] === undefined);
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(", ")}`);
  const kind = values.kind as string;
  if (!modelKinds().includes(kind)) throw new UsageError(`--kind must be one of ${modelKinds().join(", ")} but received ${JSON.stringify(kind)}`);
  const device = values.device === undefined ? "cpu" : checkDevice(values.device, "--device");
  const maxLength = integer(values["max-length"], "--max-length", 1);
  const maxBatchSize = integer(values["max-batch-size"], "--max-batch-size", 0);
  const instanceCount = integer(values.instances, "--instances", 1);
  const version = integer(values.version, "--version", 1) ?? 1;
  // Names Triton rejects are refused before the model is loaded.
  for (const modelName of [values.name as string, `${values.name as string}_query`]) {
    try {
      new ModelStorageInfo({ repository: values.repository as string, modelName, version });
    } catch (error) {
      throw new UsageError(`--name: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const model = await modelKind(kind)(values.model as string, {
    device,
    ...(maxLength === undefined ? {} : { maxLength }),
    ...(values.revision === undefined ? {} : { revision: values.revision }),
  });
  try {
    const result = await exportToTriton(model, {
      repository: values.repository as string,
      name: values.name as string,
      version,
      overwrite: values.overwrite ?? false,
      serving: {
        ...(maxBatchSize === undefined ? {} : { maxBatchSize, ...(maxBatchSize === 0 ? { dynamicBatching: false as const } : {}) }),
        ...(instanceCount === undefined ? {} : { instanceCount }),
        ...(values["fixed-length"] ? { fixedLength: true } : {}),
      },
    });
    if (result.shared) {
      io.stdout(`wrote ${result.query.versionDir} and ${result.query.configPath}`);
      io.stdout(`query and items are the same module: one model "${result.query.modelName}" serves both; send query requests with priority 1`);
    } else {
      for (const info of [result.query, result.items]) io.stdout(`wrote ${info.versionDir} and ${info.configPath}`);
    }
    return 0;
  } finally {
    model.dispose();
  }
}

const DEMO_USAGE = `usage: embeddings-torch demo [--model <folder>] [--data <dir>] [--out <dir>] [--epochs N]
         [--max-steps N] [--max-length N] [--no-export]

Fine-tunes <folder> (default: the package's models/default, a small synthetic
BERT, mean pooling) on the clickstream in <dir> (default: the package's data/),
split so that the held-out sessions click items training never used
(item-disjoint); prints held-out recall@k, MRR and nDCG before and after,
beside BM25, for unseen items, seen items and unseen queries; writes
<out>/report.json, saves the model as a Hugging Face folder in <out>/model and
exports it to the Triton repository <out>/triton (default out: ./demo-output).
--max-steps stops training early (a quick look; the README's numbers are for
the full run).`;

async function runDemo(args: readonly string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: "string" },
      data: { type: "string" },
      out: { type: "string" },
      epochs: { type: "string" },
      "max-steps": { type: "string" },
      "max-length": { type: "string" },
      "no-export": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(DEMO_USAGE);
    return 0;
  }
  const epochs = integer(values.epochs, "--epochs", 1);
  const maxSteps = integer(values["max-steps"], "--max-steps", 1);
  const maxLength = integer(values["max-length"], "--max-length", 2);
  const started = Date.now();
  await demo({
    ...(values.model === undefined ? {} : { modelDir: values.model }),
    ...(values.data === undefined ? {} : { dataDir: values.data }),
    ...(values.out === undefined ? {} : { outDir: values.out }),
    ...(epochs === undefined ? {} : { epochs }),
    ...(maxSteps === undefined ? {} : { maxSteps }),
    ...(maxLength === undefined ? {} : { maxLength }),
    ...(values["no-export"] ? { exportToTriton: null } : {}),
    log: io.stdout,
  });
  io.stdout(`demo finished in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

const COMMANDS: Readonly<Record<string, (args: readonly string[], io: CliIO) => Promise<number>>> = {
  "export-triton": exportTriton,
  demo: runDemo,
  finetune: finetuneCommand,
  embed: embedCommand,
  evaluate: evaluateCommand,
  launch: launchCommand,
};

const COMMAND_USAGE: Readonly<Record<string, string>> = {
  "export-triton": EXPORT_USAGE,
  demo: DEMO_USAGE,
  finetune: FINETUNE_USAGE,
  embed: EMBED_USAGE,
  evaluate: EVALUATE_USAGE,
  launch: LAUNCH_USAGE,
};

const USAGE = `usage: embeddings-torch <command> [options]

commands:
  demo            fine-tune the shipped default model on the sample clickstream
  finetune        fine-tune a model (folder or Hub id) on your clickstream, save and export it
  embed           embed the texts of a .txt/.jsonl file into .jsonl or .npy
  evaluate        retrieval metrics (recall@k, MRR, nDCG@10) of a model on a clickstream
  export-triton   trace a model and write it with its config.pbtxt into a Triton repository
  launch          start the N processes of a data-parallel run (Trainer strategy "ddp")
  help [command]  this text, or a command's options (also: <command> --help)

options: --help, -h (this text), --version, -v (the package version)`;

/** The version in the package's own package.json (dist/ or lib/ → ..). */
function packageVersion(): string {
  const parsed: unknown = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8"));
  const version = typeof parsed === "object" && parsed !== null ? (parsed as { version?: unknown }).version : undefined;
  return typeof version === "string" ? version : "unknown";
}

/** Runs a command line; returns the exit code (0 done, 1 failed, 2 bad usage). */
export async function main(argv: readonly string[], io: CliIO = { stdout: console.log, stderr: console.error }): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h") {
    io.stdout(USAGE);
    return 0;
  }
  if (command === "help") {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout(USAGE);
      return 0;
    }
    const usage = COMMAND_USAGE[topic];
    io[usage === undefined ? "stderr" : "stdout"](usage ?? `unknown command ${JSON.stringify(topic)}\n${USAGE}`);
    return usage === undefined ? 2 : 0;
  }
  if (command === "--version" || command === "-v" || command === "version") {
    io.stdout(packageVersion());
    return 0;
  }
  const run = command === undefined ? undefined : COMMANDS[command];
  if (run === undefined) {
    io.stderr(command === undefined ? `embeddings-torch: no command given\n${USAGE}` : `embeddings-torch: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (error) {
    // parseArgs' errors carry a code (checked by value: they may come from another realm than this one's TypeError)
    const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
    const usage = error instanceof UsageError || (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS"));
    const message = error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error);
    io.stderr(`embeddings-torch ${command}: ${message}`);
    if (usage) io.stderr(COMMAND_USAGE[command ?? ""] ?? USAGE);
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
