/**
 * Installs one model version into a Triton model repository so that Triton
 * (polling the folder) and a crash never see half of it. A first export
 * (no config.pbtxt yet) builds the whole model folder, config.pbtxt and
 * version, in a hidden folder of the repository (`.<model>.tmp-<pid>-XXXXXX`)
 * and renames it into place: one step, so no version is ever visible without
 * its config. A later export builds the version in `.<version>.tmp-<pid>-XXXXXX`
 * inside the model folder (Triton skips names that are not numbers) and
 * renames it in; config.pbtxt (the same text unless overwrite changed it)
 * follows by rename. A
 * failure undoes what was done; a killed process leaves only hidden entries,
 * which the next export removes (a replaced version displaced to
 * `.<version>.old-<pid>-…` is moved back when the new one never arrived).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

import { DeployedVersionError, RepositoryError } from "../../errors";
import { wrapFsError } from "../../hub/fs-errors";
import { fsyncPath, makeDir, makeTempDir, removeDeadLeftovers, removePath, renamePath, writeFileDurable as writeDurable, writerIsDead } from "../../hub/atomic";
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
  if (!options.overwrite && isDeployed(info))
    throw new DeployedVersionError(
      `${options.what}: version ${info.version} of "${info.modelName}" is already deployed at ${info.versionDir}; it was left untouched. Export a new version, or pass overwrite: true to replace it`,
    );
}

/**
 * A version is deployed when its folder and the model's config.pbtxt exist
 * (Triton cannot load a PyTorch model without its config; such a folder is
 * the leftover of an older, non-atomic export and is replaced).
 */
function isDeployed(info: ModelStorageInfo): boolean {
  return fs.existsSync(info.versionDir) && fs.existsSync(info.configPath);
}

/**
 * Runs `build(tempDir)`, which writes the version's files into `tempDir` and
 * returns config.pbtxt's text, then moves the version and the config into place.
 * @throws DeployedVersionError when the version exists, or when config.pbtxt
 *   would change under other deployed versions (unless overwrite);
 *   RepositoryError naming the path for a file-system failure; whatever
 *   `build` or the writes throw (the repository is then as it was).
 */
export async function installVersion(info: ModelStorageInfo, build: (tempDir: string) => Promise<string>, options: InstallVersionOptions): Promise<void> {
  try {
    checkNotDeployed(info, options);
    await removeExportLeftovers(info);
    if (!fs.existsSync(info.configPath)) await installFirstVersion(info, build, options);
    else await installNextVersion(info, build, options);
  } catch (error) {
    throw wrapFsError(error, options.what, RepositoryError);
  }
}

/** The model folder has no config.pbtxt: build all of it aside, then one rename. */
async function installFirstVersion(info: ModelStorageInfo, build: (tempDir: string) => Promise<string>, options: InstallVersionOptions): Promise<void> {
  const repository = path.dirname(info.modelDir);
  await makeDir(repository);
  const stage = await makeTempDir(path.join(repository, `.${info.modelName}.tmp-${process.pid}-`));
  let aside: string | undefined;  // a model folder without config.pbtxt (nothing Triton can serve), while the new one moves in
  try {
    const versionTemp = path.join(stage, String(info.version));
    await makeDir(versionTemp);
    const config = await build(versionTemp);
    await fsyncTree(versionTemp);
    await options.writeConfig(path.join(stage, "config.pbtxt"), config);
    await fsyncPath(stage);
    checkNotDeployed(info, options);  // again: another exporter may have finished meanwhile
    if (fs.existsSync(info.modelDir)) {
      if (fs.existsSync(info.configPath)) throw new DeployedVersionError(`${options.what}: another export created ${info.configPath} meanwhile; it was left untouched. Export again`);
      aside = path.join(repository, `.${info.modelName}.old-${process.pid}-${randomBytes(4).toString("hex")}`);
      await renamePath(info.modelDir, aside);
    }
    await renamePath(stage, info.modelDir);
  } catch (error) {
    if (aside !== undefined && !fs.existsSync(info.modelDir)) await fs.promises.rename(aside, info.modelDir);
    await fs.promises.rm(stage, { recursive: true, force: true });
    throw error;
  }
  if (aside !== undefined) await removePath(aside);
  await fsyncPath(repository);  // the rename reaches the disk
}

/** config.pbtxt exists: the version folder moves in, then a changed config. */
async function installNextVersion(info: ModelStorageInfo, build: (tempDir: string) => Promise<string>, options: InstallVersionOptions): Promise<void> {
  const modelDir = info.modelDir;
  const tempDir = await makeTempDir(path.join(modelDir, `.${info.version}.tmp-${process.pid}-`));
  const tempConfig = path.join(modelDir, `.config.pbtxt.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let displaced: string | undefined;  // the replaced version folder, while the new one moves in
  let installed = false;
  try {
    const config = await build(tempDir);
    checkConfigChange(info, config, options);
    await fsyncTree(tempDir);
    await options.writeConfig(tempConfig, config);
    checkNotDeployed(info, options);  // again: another exporter may have finished meanwhile
    if (fs.existsSync(info.versionDir)) {
      displaced = path.join(modelDir, `.${info.version}.old-${process.pid}-${randomBytes(4).toString("hex")}`);
      await renamePath(info.versionDir, displaced);
    }
    await renamePath(tempDir, info.versionDir);
    installed = true;
    await renamePath(tempConfig, info.configPath);  // the same text unless overwrite changed it
  } catch (error) {
    // Undo in reverse order; the config rename is the last step, so it never needs undoing.
    if (installed) await fs.promises.rename(info.versionDir, tempDir);
    if (displaced !== undefined) await fs.promises.rename(displaced, info.versionDir);
    displaced = undefined;
    await fs.promises.rm(tempDir, { recursive: true, force: true });
    await fs.promises.rm(tempConfig, { force: true });
    throw error;
  }
  if (displaced !== undefined) await removePath(displaced);
  await fsyncPath(modelDir);  // the renames reach the disk
}

async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await fs.promises.readdir(dir)) await fsyncPath(path.join(dir, entry));
  await fsyncPath(dir);
}

/**
 * Removes what killed exporters of this model left: staged model folders and
 * folders set aside in the repository, temporary versions and configs in the
 * model folder. A replaced version whose successor never arrived is moved back.
 */
async function removeExportLeftovers(info: ModelStorageInfo): Promise<void> {
  const repository = path.dirname(info.modelDir);
  const name = info.modelName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  await removeDeadLeftovers(repository, new RegExp(`^\\.${name}\\.(?:tmp|old)-(\\d+)-[A-Za-z0-9]+$`));
  if (!fs.existsSync(info.modelDir)) return;
  for (const entry of await fs.promises.readdir(info.modelDir)) {
    const old = /^\.([1-9][0-9]*)\.old-(\d+)-[0-9a-f]+$/.exec(entry);
    if (old?.[1] === undefined || old[2] === undefined || !writerIsDead(Number(old[2]))) continue;
    const versionDir = path.join(info.modelDir, old[1]);
    if (!fs.existsSync(versionDir)) await renamePath(path.join(info.modelDir, entry), versionDir);
  }
  await removeDeadLeftovers(info.modelDir, /^\.(?:[1-9][0-9]*\.(?:tmp|old)-|config\.pbtxt\.)(\d+)[.-][0-9A-Za-z]+(?:\.tmp)?$/);
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
  await writeDurable(file, text);
}
