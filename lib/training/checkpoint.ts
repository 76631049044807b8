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
 * (which lists every file, its size and its sha256) last, each fsynced; the
 * folder is renamed into place; only then does latest.json (itself written
 * atomically) point at it. Old step folders are renamed to hidden names
 * before they are deleted, so a kill while pruning never leaves a visible,
 * partial `step-…/`. The next write removes what killed writers left
 * (`.tmp-step-…`, `.trash-…`, `.latest.json.….tmp`). Readers follow
 * latest.json and check each listed file's size and sha256.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { wrapFsError } from "../hub/fs-errors";
import { countedWrite, fsyncPath, makeDir, removeDeadLeftovers, removePath, renamePath, writeFileAtomic } from "../hub/atomic";
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
  /** Size in bytes of each file of the folder. */
  readonly files: Readonly<Record<string, number>>;
  /** Hex sha256 of each file (absent in checkpoints written before checksums). */
  readonly sha256?: Readonly<Record<string, string>>;
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
    throw new CheckpointError(`latestCheckpoint(${root}): cannot read ${path.join(root, LATEST)} (${(error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`latestCheckpoint(${root}): ${path.join(root, LATEST)} is not JSON (${(error as Error).message}): expected {"checkpoint": "step-…"} but received ${JSON.stringify(text.slice(0, 200))}`);
  }
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
  try {
    return await writeCheckpointFiles(root, contents, keepLast);
  } catch (error) {
    throw wrapFsError(error, `writeCheckpoint(${root})`, CheckpointError);
  }
}

async function writeCheckpointFiles(root: string, contents: CheckpointContents, keepLast: number): Promise<string> {
  await makeDir(root);
  await removeLeftovers(root);
  const name = checkpointName(contents.state.globalStep);
  const final = path.join(root, name);
  if ((await latestCheckpoint(root)) === name && fs.existsSync(final))
    throw new CheckpointError(`writeCheckpoint(${root}): ${name} is the latest checkpoint; it is never rewritten in place`);
  const temp = path.join(root, `.tmp-${name}-${process.pid}-${Date.now()}`);
  await makeDir(temp);
  for (const [moduleName, module] of contents.modules) {
    await countedWrite(() => module.saveStateDict(path.join(temp, `${moduleName}.safetensors`)));
  }
  for (const [i, optimizer] of contents.optimizers.entries()) await countedWrite(() => optimizer.save(path.join(temp, `optimizer-${i}.safetensors`)));
  const files: Record<string, number> = {};
  const sha256: Record<string, string> = {};
  for (const file of (await fs.promises.readdir(temp)).sort()) {
    files[file] = (await fs.promises.stat(path.join(temp, file))).size;
    sha256[file] = await fileSha256(path.join(temp, file));
  }
  const stored: StoredState = { ...contents.state, files, sha256 };
  await writeFileAtomic(path.join(temp, STATE), JSON.stringify(stored, null, 1));
  await fsyncPath(temp);
  // A folder of this name not referenced by latest.json is a leftover of a run that died between rename and latest.json.
  await removePath(final);
  await renamePath(temp, final);
  await fsyncPath(root);
  await writeFileAtomic(path.join(root, LATEST), JSON.stringify({ checkpoint: name, step: contents.state.globalStep }));
  await prune(root, name, keepLast);
  return final;
}

/** Hidden entries of dead writers: temporary checkpoint folders, latest.json's temporary files, folders being deleted. */
async function removeLeftovers(root: string): Promise<void> {
  await removeDeadLeftovers(root, /^\.(?:tmp-step-\d+-|latest\.json\.)(\d+)[.-]\d+(?:\.tmp)?$/);
}

/** Removes older step folders (keeping `keepLast`, always `latest`); each is renamed to a hidden name first. */
async function prune(root: string, latest: string, keepLast: number): Promise<void> {
  const entries = await fs.promises.readdir(root);
  const steps = entries.filter((e) => /^step-\d+$/.test(e)).sort();
  const keep = new Set([...steps.slice(Math.max(0, steps.length - keepLast)), latest]);
  for (const e of steps) if (!keep.has(e)) await removePath(path.join(root, e));
}

/** Hex sha256 of a file, read in chunks (checkpoint files may be large). */
async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Finds a complete checkpoint: `location` is a checkpoint root (follows
 * latest.json) or one step folder.
 * @throws CheckpointError when there is none, or a listed file is missing or has another size.
 */
export async function readCheckpoint(location: string): Promise<{ dir: string; state: TrainerState }> {
  try {
    return await readCheckpointState(location);
  } catch (error) {
    throw wrapFsError(error, `readCheckpoint(${location})`, CheckpointError);
  }
}

async function readCheckpointState(location: string): Promise<{ dir: string; state: TrainerState }> {
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
  for (const [file, expected] of Object.entries(stored.sha256 ?? {})) {
    const actual = await fileSha256(path.join(dir, file));
    if (actual !== expected)
      throw new CheckpointError(`readCheckpoint(${location}): ${path.join(dir, file)} has sha256 ${actual}, trainer.json says ${expected}: the file was changed or corrupted after it was written; resume from another checkpoint`);
  }
  const { files: _files, sha256: _sha256, ...state } = stored;
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
