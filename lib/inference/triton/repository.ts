/**
 * Installs one model version into a Triton model repository so that Triton
 * (polling the folder) and a crash never see half of it: the version is built
 * in a temporary folder inside the model folder (`.<version>.tmp-XXXXXX`,
 * which Triton skips since it is not a number), config.pbtxt is written to a
 * temporary file, and both are renamed into place only when everything
 * succeeded. A failure removes the temporary files and leaves the repository
 * as it was; a killed process leaves only the hidden temporary folder.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

import { DeployedVersionError } from "../../errors";
import { fsyncPath } from "../../hub/atomic";
import type { ModelStorageInfo } from "./storage-manager";

export interface InstallVersionOptions {
  /** Replace an existing version folder and a config.pbtxt other versions use. */
  readonly overwrite: boolean;
  /** The caller, for messages. */
  readonly what: string;
  /** Writes config.pbtxt's temporary file (and fsyncs it). */
  readonly writeConfig: (file: string, text: string) => Promise<void>;
}

/** Numbered version folders present in a model folder. */
export function deployedVersions(modelDir: string): number[] {
  if (!fs.existsSync(modelDir)) return [];
  return fs
    .readdirSync(modelDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name))
    .map((e) => Number(e.name))
    .sort((a, b) => a - b);
}

/**
 * @throws DeployedVersionError when the version folder exists (unless overwrite).
 */
export function checkNotDeployed(info: ModelStorageInfo, options: Pick<InstallVersionOptions, "overwrite" | "what">): void {
  if (!options.overwrite && fs.existsSync(info.versionDir))
    throw new DeployedVersionError(
      `${options.what}: version ${info.version} of "${info.modelName}" is already deployed at ${info.versionDir}; it was left untouched. Export a new version, or pass overwrite: true to replace it`,
    );
}

/**
 * Runs `build(tempDir)`, which writes the version's files into `tempDir` and
 * returns config.pbtxt's text, then moves the version and the config into place.
 * @throws DeployedVersionError when the version exists, or when config.pbtxt
 *   would change under other deployed versions (unless overwrite); whatever
 *   `build` or the writes throw (the repository is then as it was).
 */
export async function installVersion(info: ModelStorageInfo, build: (tempDir: string) => Promise<string>, options: InstallVersionOptions): Promise<void> {
  checkNotDeployed(info, options);
  const modelDir = info.modelDir;
  const createdModelDir = !fs.existsSync(modelDir);
  await fs.promises.mkdir(modelDir, { recursive: true });
  const tempDir = await fs.promises.mkdtemp(path.join(modelDir, `.${info.version}.tmp-`));
  const tempConfig = path.join(modelDir, `.config.pbtxt.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let displaced: string | undefined;  // the replaced version folder, while the new one moves in
  let installed = false;
  try {
    const config = await build(tempDir);
    checkConfigChange(info, config, options);
    for (const entry of await fs.promises.readdir(tempDir)) await fsyncPath(path.join(tempDir, entry));
    await fsyncPath(tempDir);
    await options.writeConfig(tempConfig, config);
    checkNotDeployed(info, options);  // again: another exporter may have finished meanwhile
    if (fs.existsSync(info.versionDir)) {
      displaced = path.join(modelDir, `.${info.version}.old-${randomBytes(4).toString("hex")}`);
      await fs.promises.rename(info.versionDir, displaced);
    }
    await fs.promises.rename(tempDir, info.versionDir);
    installed = true;
    await fs.promises.rename(tempConfig, info.configPath);
  } catch (error) {
    // Undo in reverse order; the config rename is the last step, so it never needs undoing.
    if (installed) await fs.promises.rename(info.versionDir, tempDir);
    if (displaced !== undefined) await fs.promises.rename(displaced, info.versionDir);
    displaced = undefined;
    await fs.promises.rm(tempDir, { recursive: true, force: true });
    await fs.promises.rm(tempConfig, { force: true });
    // A model folder without config.pbtxt is an error for a polling Triton: remove the one made here.
    if (createdModelDir && (await fs.promises.readdir(modelDir)).length === 0) await fs.promises.rmdir(modelDir);
    throw error;
  }
  if (displaced !== undefined) await fs.promises.rm(displaced, { recursive: true, force: true });
  await fsyncPath(modelDir);  // the renames reach the disk
}

/** One config.pbtxt serves every version of a model: changing it re-describes the others. */
function checkConfigChange(info: ModelStorageInfo, config: string, options: Pick<InstallVersionOptions, "overwrite" | "what">): void {
  if (options.overwrite || !fs.existsSync(info.configPath)) return;
  const others = deployedVersions(info.modelDir).filter((v) => v !== info.version);
  if (others.length === 0 || fs.readFileSync(info.configPath, "utf8") === config) return;
  throw new DeployedVersionError(
    `${options.what}: ${info.configPath} serves deployed version(s) ${others.join(", ")} of "${info.modelName}" and this export would change it (inputs, outputs or serving options differ); it was left untouched. Export under another model name, or pass overwrite: true to replace it`,
  );
}

/** Writes and fsyncs a new file (fails if it exists). */
export async function writeFileDurable(file: string, text: string): Promise<void> {
  const handle = await fs.promises.open(file, "wx");
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
}
