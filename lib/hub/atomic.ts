import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Writes `chunks` to `file` through a temporary file in the same folder that
 * is fsynced and renamed over the target: readers see the old file or the
 * new one, never half of one. The temporary file is removed on failure.
 */
export async function writeFileAtomic(file: string, chunks: readonly Uint8Array[] | string): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await fs.promises.open(temp, "wx");
  try {
    if (typeof chunks === "string") await handle.writeFile(chunks, "utf8");
    else for (const chunk of chunks) await handle.writeFile(chunk);  // writeFile loops until every byte is written
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.promises.rename(temp, file);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
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
