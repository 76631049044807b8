/**
 * Training checkpoints: module weights (safetensors), optimizer state
 * (safetensors) and the trainer's state (JSON) in one folder per step,
 *
 *   <root>/latest.json            {"checkpoint": "step-00000012", "step": 12}
 *   <root>/step-00000012/         query.safetensors, items.safetensors,
 *                                 optimizer-0.safetensors, trainer.json
 *
 * written so that a process killed at any instant leaves the previous
 * checkpoint loadable: every file goes into a temporary folder, trainer.json
 * (which lists every file and its size) last, each fsynced; the folder is
 * renamed into place; only then does latest.json (itself written atomically)
 * point at it. Readers follow latest.json and check the listed sizes.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { fsyncPath, writeFileAtomic } from "../hub/atomic";
import type { Module } from "../module";
import type { Optimizer } from "./optimizer";

/** What the trainer needs to continue exactly where it stopped. */
export interface TrainerState {
  readonly version: 1;
  /** Optimizer steps taken. */
  readonly globalStep: number;
  /** The epoch in progress (0-based) and how many of its micro-batches were consumed. */
  readonly epoch: number;
  readonly batchInEpoch: number;
  readonly seed: number;
  /** Per optimizer, per group: the rates the schedule multiplies. */
  readonly baseLearningRates: readonly (readonly number[])[];
  readonly earlyStopping: { readonly best: number | null; readonly badValidations: number } | null;
  readonly stopped: boolean;
  /** Settings a resumed run must share (batching decides which samples each step sees). */
  readonly config: { readonly batchSize: number; readonly accumulateGradBatches: number; readonly trainSize: number };
}

interface StoredState extends TrainerState {
  readonly files: Readonly<Record<string, number>>;
}

export interface CheckpointContents {
  readonly modules: ReadonlyMap<string, Module>;
  readonly optimizers: readonly Optimizer[];
  readonly state: TrainerState;
}

const LATEST = "latest.json";
const STATE = "trainer.json";

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/** The folder latest.json under `root` names (e.g. "step-00000012"), or null when `root` holds no checkpoint. */
export async function latestCheckpoint(root: string): Promise<string | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(root, LATEST), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  const name = typeof parsed === "object" && parsed !== null ? (parsed as { checkpoint?: unknown }).checkpoint : undefined;
  if (typeof name !== "string" || !/^step-\d+$/.test(name)) throw new CheckpointError(`${path.join(root, LATEST)}: no "checkpoint" folder name in ${text.slice(0, 200)}`);
  return name;
}

/**
 * Writes a checkpoint for `state.globalStep` under `root`, points latest.json
 * at it and removes all but the newest `keepLast` step folders.
 * @returns the checkpoint's folder.
 */
export async function writeCheckpoint(root: string, contents: CheckpointContents, keepLast = 2): Promise<string> {
  await fs.promises.mkdir(root, { recursive: true });
  const name = checkpointName(contents.state.globalStep);
  const final = path.join(root, name);
  if ((await latestCheckpoint(root)) === name && fs.existsSync(final))
    throw new CheckpointError(`writeCheckpoint(${root}): ${name} is the latest checkpoint; it is never rewritten in place`);
  const temp = path.join(root, `.tmp-${name}-${process.pid}-${Date.now()}`);
  await fs.promises.mkdir(temp);
  const files: Record<string, number> = {};
  for (const [moduleName, module] of contents.modules) {
    await module.saveStateDict(path.join(temp, `${moduleName}.safetensors`));
  }
  for (const [i, optimizer] of contents.optimizers.entries()) await optimizer.save(path.join(temp, `optimizer-${i}.safetensors`));
  for (const file of await fs.promises.readdir(temp)) files[file] = (await fs.promises.stat(path.join(temp, file))).size;
  const stored: StoredState = { ...contents.state, files };
  await writeFileAtomic(path.join(temp, STATE), JSON.stringify(stored, null, 1));
  await fsyncPath(temp);
  // A folder of this name not referenced by latest.json is a leftover of a run that died between rename and latest.json.
  await fs.promises.rm(final, { recursive: true, force: true });
  await fs.promises.rename(temp, final);
  await fsyncPath(root);
  await writeFileAtomic(path.join(root, LATEST), JSON.stringify({ checkpoint: name, step: contents.state.globalStep }));
  await prune(root, name, keepLast);
  return final;
}

/** Removes older step folders (keeping `keepLast`, always `latest`) and temporary folders of dead writers. */
async function prune(root: string, latest: string, keepLast: number): Promise<void> {
  const entries = await fs.promises.readdir(root);
  const steps = entries.filter((e) => /^step-\d+$/.test(e)).sort();
  const keep = new Set([...steps.slice(Math.max(0, steps.length - keepLast)), latest]);
  for (const e of entries) {
    if ((/^step-\d+$/.test(e) && !keep.has(e)) || e.startsWith(".tmp-step-")) await fs.promises.rm(path.join(root, e), { recursive: true, force: true });
  }
}

/**
 * Finds a complete checkpoint: `location` is a checkpoint root (follows
 * latest.json) or one step folder.
 * @throws CheckpointError when there is none, or a listed file is missing or has another size.
 */
export async function readCheckpoint(location: string): Promise<{ dir: string; state: TrainerState }> {
  const latest = fs.existsSync(path.join(location, LATEST)) ? await latestCheckpoint(location) : null;
  const dir = latest ? path.join(location, latest) : location;
  let stored: StoredState;
  try {
    stored = JSON.parse(await fs.promises.readFile(path.join(dir, STATE), "utf8")) as StoredState;
  } catch (error) {
    throw new CheckpointError(`readCheckpoint(${location}): no readable ${STATE} in ${dir} (${error instanceof Error ? error.message : String(error)}); pass a checkpoint root (with ${LATEST}) or a step folder`);
  }
  if (stored.version !== 1 || typeof stored.globalStep !== "number" || typeof stored.files !== "object")
    throw new CheckpointError(`readCheckpoint(${location}): ${path.join(dir, STATE)} is not a version 1 trainer state`);
  for (const [file, size] of Object.entries(stored.files)) {
    const actual = fs.statSync(path.join(dir, file), { throwIfNoEntry: false })?.size;
    if (actual !== size) throw new CheckpointError(`readCheckpoint(${location}): ${path.join(dir, file)} is ${actual === undefined ? "missing" : `${actual} bytes`}, trainer.json says ${size}: the checkpoint is incomplete`);
  }
  const { files: _files, ...state } = stored;
  return { dir, state };
}

/** Loads weights and optimizer state from a checkpoint folder into live modules and optimizers. */
export async function restoreCheckpoint(dir: string, modules: ReadonlyMap<string, Module>, optimizers: readonly Optimizer[]): Promise<void> {
  for (const [name, module] of modules) {
    const file = path.join(dir, `${name}.safetensors`);
    if (!fs.existsSync(file)) throw new CheckpointError(`restoreCheckpoint(${dir}): no weights for module "${name}" (${file})`);
    await module.loadStateDict(file);
  }
  for (const [i, optimizer] of optimizers.entries()) {
    const file = path.join(dir, `optimizer-${i}.safetensors`);
    if (!fs.existsSync(file)) throw new CheckpointError(`restoreCheckpoint(${dir}): no state for optimizer ${i} (${file}); was it saved with as many optimizers?`);
    await optimizer.load(file);
  }
}
