/**
 * `fromPretrained(idOrDir)`: a local folder as it is, or a Hub id ("org/name")
 * resolved to a snapshot folder of the Hugging Face cache: from the cache
 * alone under HF_HUB_OFFLINE (or when the Hub cannot be reached and the cache
 * holds the revision), else downloading what the model's file plan asks for.
 */
import * as fs from "node:fs";

import { describe } from "../dtypes";
import { HubError } from "../errors";
import { isJsonObject, readJsonObject } from "../tokenization";
import { cachedCommit, isRepoId, knownMissing, repoCacheDir, snapshotDir, snapshotFile, writeRef } from "./hf-cache";
import { fetchFile } from "./hub-download";
import { hubSettings, type HubOptions, type HubSettings } from "./hub-settings";

/**
 * Makes `file` (a path inside the repository) available and returns its local
 * path; null when it does not exist and `optional` is set.
 */
export type FileGetter = (file: string, options?: { optional?: boolean }) => Promise<string | null>;

/** Which files a model needs: asks for them one by one (later ones may depend on what earlier ones say). */
export type FilePlan = (get: FileGetter) => Promise<void>;

/**
 * The weights of a checkpoint (in `folder`, "" for the root): model.safetensors,
 * else a sharded model.safetensors.index.json and every shard it names.
 * @throws HubError when there is neither (pickled weights are never fetched).
 */
export async function getSafetensorsWeights(get: FileGetter, folder = ""): Promise<void> {
  const at = (name: string) => (folder === "" ? name : `${folder}/${name}`);
  const where = folder === "" ? "" : `${folder}/: `;
  if ((await get(at("model.safetensors"), { optional: true })) !== null) return;
  const index = await get(at("model.safetensors.index.json"), { optional: true });
  if (index === null)
    throw new HubError(`${where}neither model.safetensors nor model.safetensors.index.json exists (pickled pytorch_model.bin weights are not loaded, since unpickling runs code)`);
  const map = (await readJsonObject(index, "model.safetensors.index.json")).weight_map;
  if (!isJsonObject(map)) throw new HubError(`${index}: no "weight_map" object`);
  for (const shard of new Set(Object.values(map).map(String))) await get(at(shard));
}

/** The files of a Hugging Face transformers checkpoint with a tokenizer (BERT, XLM-R) in `folder` ("" for the root). */
export async function getTextModelFiles(get: FileGetter, folder = ""): Promise<void> {
  const at = (name: string) => (folder === "" ? name : `${folder}/${name}`);
  await get(at("config.json"));
  await get(at("tokenizer.json"));
  await get(at("tokenizer_config.json"));
  await get(at("special_tokens_map.json"), { optional: true });
  await getSafetensorsWeights(get, folder);
}

/** A text checkpoint; when it has separate towers (towers.json), the items tower's folder too. */
export const TEXT_MODEL_FILES: FilePlan = async (get) => {
  await getTextModelFiles(get);
  const towers = await get("towers.json", { optional: true });
  if (towers === null) return;
  const items = (await readJsonObject(towers, "towers.json")).items;
  if (typeof items !== "string" || items === "" || items.split("/").includes("..")) throw new HubError(`towers.json: "items" must name a subfolder but is ${JSON.stringify(items)}`);
  await get(`${items}/config.json`);
  await getSafetensorsWeights(get, items);
};

/** A CLIPModel checkpoint in `folder`: the text model's files and the image processor's configuration. */
export async function getClipModelFiles(get: FileGetter, folder = ""): Promise<void> {
  await getTextModelFiles(get, folder);
  await get(folder === "" ? "preprocessor_config.json" : `${folder}/preprocessor_config.json`);
}

/** Error context for a Hub id. */
interface Target {
  readonly where: string;
  readonly repoId: string;
  readonly repoDir: string;
  readonly settings: HubSettings;
}

/**
 * The folder to load `idOrDir` from: an existing path (or anything that is
 * not a Hub id) unchanged, a Hub id as its snapshot folder in the cache.
 * @throws HubError (`ERR_HUB_OFFLINE`) naming the id, the cache folder and
 *   HF_HUB_OFFLINE when the cache lacks it offline; HubError (`ERR_HUB`) for a
 *   refused or failed download; TypeError for bad options.
 */
export async function resolvePretrained(idOrDir: string, plan: FilePlan, options: HubOptions, where: string): Promise<string> {
  if (typeof idOrDir !== "string") throw new TypeError(`${where}: expected a folder or a Hub id ("org/name") but received ${describe(idOrDir)}`);
  if (fs.existsSync(idOrDir) || !isRepoId(idOrDir)) return idOrDir;
  const settings = hubSettings(options, where);
  const target: Target = { where, repoId: idOrDir, repoDir: repoCacheDir(settings.cacheDir, idOrDir), settings };
  if (settings.offline) return fromCache(target, plan, "HF_HUB_OFFLINE is set");
  try {
    return await download(target, plan);
  } catch (error) {
    if (!isNetworkFailure(error)) throw error;
    // Unreachable Hub (no network, wrong HF_ENDPOINT): the cache, as huggingface_hub does.
    const { message, cause } = error;
    const detail = typeof cause === "object" && cause !== null && "message" in cause ? `${message}: ${String(cause.message)}` : message;
    return fromCache(target, plan, `${settings.endpoint} could not be reached (${detail})`);
  }
}

/**
 * fetch's failure to connect or to read an answer: a TypeError ("fetch
 * failed"), duck-typed since it may come from another realm (vm, jest).
 */
function isNetworkFailure(error: unknown): error is { message: string; cause?: unknown } {
  if (error instanceof HubError || typeof error !== "object" || error === null) return false;
  const { name, message } = error as { name?: unknown; message?: unknown };
  return name === "TypeError" && message === "fetch failed";
}

/** The snapshot of the cached revision, checked against the plan without any request. */
async function fromCache(target: Target, plan: FilePlan, why: string): Promise<string> {
  const { where, repoId, repoDir, settings } = target;
  const offline = (what: string) =>
    new HubError(
      `${where}: ${repoId}${settings.revision === "main" ? "" : `@${settings.revision}`}: ${what}; the Hugging Face cache is ${settings.cacheDir} and ${why}; ` +
        `download it once with the network (HF_HUB_OFFLINE unset, HF_ENDPOINT reachable), or point HF_HUB_CACHE / HF_HOME at a cache that holds it`,
      "ERR_HUB_OFFLINE",
    );
  if (!fs.existsSync(repoDir)) throw offline(`the cache has no ${repoDir.slice(settings.cacheDir.length + 1)} folder`);
  const commit = cachedCommit(repoDir, settings.revision);
  if (commit === undefined || !fs.existsSync(snapshotDir(repoDir, commit))) throw offline(`revision ${JSON.stringify(settings.revision)} was never resolved into the cache`);
  // Optional files neither cached nor recorded missing: offline, nobody knows whether they exist.
  const unknown: string[] = [];
  try {
    await plan(async (file, options = {}) => {
      const local = snapshotFile(repoDir, commit, file);
      if (fs.existsSync(local)) return local;
      const missing = knownMissing(repoDir, commit, file);
      if (options.optional === true) {
        if (!missing) unknown.push(file);
        return null;
      }
      if (missing) throw new HubError(`${where}: ${repoId}@${commit} has no ${file} (recorded in the cache's .no_exist)`);
      throw offline(`snapshot ${commit} lacks ${file}`);
    });
  } catch (error) {
    // The plan refused what it found (no weights among the alternatives): offline, that means "not cached".
    if (error instanceof HubError && error.code === "ERR_HUB" && unknown.length > 0) throw offline(`snapshot ${commit}: ${error.message}`);
    throw error;
  }
  return snapshotDir(repoDir, commit);
}

/** Fetches what the plan asks for; the first answer pins the commit for the rest. */
async function download(target: Target, plan: FilePlan): Promise<string> {
  const { where, repoId, repoDir, settings } = target;
  let commit: string | undefined;
  await plan(async (file, options = {}) => {
    const fetched = await fetchFile(settings, repoDir, repoId, commit ?? settings.revision, file);
    if (commit === undefined && fetched.commit !== undefined) {
      commit = fetched.commit;
      await writeRef(repoDir, settings.revision, commit);
    }
    if (fetched.found) return fetched.path;
    if (options.optional === true) return null;
    throw new HubError(`${where}: ${repoId}@${fetched.commit ?? settings.revision} has no ${file} (${settings.endpoint})`);
  });
  if (commit === undefined) throw new HubError(`${where}: ${repoId}: ${settings.endpoint} named no commit for revision ${JSON.stringify(settings.revision)}`);
  return snapshotDir(repoDir, commit);
}
