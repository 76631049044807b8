/**
 * The package's file writes, each one step that a crash leaves either done or
 * not done: a file is written to a temporary name, fsynced and renamed; a
 * folder is removed by renaming it to a hidden name first. Every mutating
 * step goes through {@link fsOpDone}, which counts it: with the test-only
 * variable EMBEDDINGS_TORCH_KILL_AFTER_FS_OPS=N the process SIGKILLs itself
 * right after its N-th step, so a test can stop a writer between every pair
 * of steps (test/unit/crash-safety.test.ts). Never set it in production.
 */
import * as fs from "node:fs";
import * as path from "node:path";

let fsOps = 0;

/**
 * Counts one completed file-system step and, when the test-only
 * EMBEDDINGS_TORCH_KILL_AFTER_FS_OPS names this step, SIGKILLs the process.
 */
export function fsOpDone(): void {
  fsOps += 1;
  const killAfter = process.env.EMBEDDINGS_TORCH_KILL_AFTER_FS_OPS;
  if (killAfter !== undefined && killAfter !== "" && fsOps >= Number(killAfter)) process.kill(process.pid, "SIGKILL");
}

/** Steps counted so far in this process (for tests that size their kill loops). */
export function fsOpsDone(): number {
  return fsOps;
}

/** Runs a write the package does not do itself (the addon saving a file) and counts it as one step. */
export async function countedWrite<T>(write: () => Promise<T>): Promise<T> {
  const result = await write();
  fsOpDone();
  return result;
}

/**
 * Writes `chunks` to `file` through a temporary file in the same folder that
 * is fsynced and renamed over the target: readers see the old file or the
 * new one, never half of one. The temporary file is removed on failure.
 */
export async function writeFileAtomic(file: string, chunks: readonly Uint8Array[] | string): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  await writeFileDurable(temp, chunks);
  try {
    await renamePath(temp, file);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
}

/** Writes and fsyncs a new file (fails if it exists); removes it again when the write fails. */
export async function writeFileDurable(file: string, chunks: readonly Uint8Array[] | string): Promise<void> {
  const handle = await fs.promises.open(file, "wx");
  try {
    if (typeof chunks === "string") await handle.writeFile(chunks, "utf8");
    else for (const chunk of chunks) await handle.writeFile(chunk);  // writeFile loops until every byte is written
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.promises.rm(file, { force: true });
    throw error;
  }
  await handle.close();
  fsOpDone();
}

/** Renames (atomically, within one file system) and counts the step. */
export async function renamePath(from: string, to: string): Promise<void> {
  await fs.promises.rename(from, to);
  fsOpDone();
}

/** Creates a folder (and its parents) and counts the step. */
export async function makeDir(dir: string): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  fsOpDone();
}

/** Creates a uniquely named folder `<prefix>XXXXXX` and counts the step. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await fs.promises.mkdtemp(prefix);
  fsOpDone();
  return dir;
}

/**
 * Removes a file or a folder so that a crash never leaves half of it visible:
 * a folder is first renamed to `<parent>/.trash-<name>-<pid>-<time>` (hidden,
 * cleaned by {@link removeDeadLeftovers} in the next run), then deleted.
 */
export async function removePath(target: string): Promise<void> {
  const stat = await fs.promises.lstat(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (stat === null) return;
  if (!stat.isDirectory()) {
    await fs.promises.rm(target, { force: true });
    fsOpDone();
    return;
  }
  const trash = path.join(path.dirname(target), `.trash-${path.basename(target)}-${process.pid}-${Date.now()}`);
  await renamePath(target, trash);
  await fs.promises.rm(trash, { recursive: true, force: true });
  fsOpDone();
}

/** True when no process `pid` runs (its leftovers may be removed). */
export function writerIsDead(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes the entries of `dir` whose names match `pattern` (its first group
 * is the writer's pid) and whose writer no longer runs: temporary files and
 * folders of a killed writer. Also removes `.trash-*` folders of dead writers.
 * @returns the names removed.
 */
export async function removeDeadLeftovers(dir: string, pattern: RegExp): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.promises.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const match = pattern.exec(entry) ?? /^\.trash-.*-(\d+)-\d+$/.exec(entry);
    if (match?.[1] === undefined || !writerIsDead(Number(match[1]))) continue;
    await fs.promises.rm(path.join(dir, entry), { recursive: true, force: true });
    fsOpDone();
    removed.push(entry);
  }
  return removed;
}

/** Flushes a file or a folder (the names it holds) to disk. */
export async function fsyncPath(file: string): Promise<void> {
  const handle = await fs.promises.open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
