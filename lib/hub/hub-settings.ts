/**
 * Where the Hugging Face cache is and how to reach the Hub, read from the
 * same variables Python's huggingface_hub reads (HF_HOME, HF_HUB_CACHE,
 * HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE), so both share one cache.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { describe } from "../dtypes";

/** One file's download progress: `bytes` of `total` received (total undefined when the server did not say). */
export interface DownloadProgress {
  readonly repoId: string;
  readonly file: string;
  readonly bytes: number;
  readonly total: number | undefined;
}

/** Options every `fromPretrained` takes for a Hub id. */
export interface HubOptions {
  /** Branch, tag or 40-hex commit of a Hub id; default "main". Ignored for a local folder. */
  revision?: string;
  /** The cache folder; default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (XDG_CACHE_HOME respected). */
  cacheDir?: string;
  /** Access token for private or gated repositories; default HF_TOKEN, else the token file `huggingface-cli login` wrote. */
  token?: string;
  /** Called as each file downloads (at least once per file, last with bytes === total). */
  onProgress?: (progress: DownloadProgress) => void;
}

/** The settings one resolution runs with. */
export interface HubSettings {
  readonly cacheDir: string;
  readonly endpoint: string;
  readonly token: string | undefined;
  /** HF_HUB_OFFLINE: the cache only, no request at all. */
  readonly offline: boolean;
  readonly revision: string;
  readonly onProgress: ((progress: DownloadProgress) => void) | undefined;
}

/** huggingface_hub's truthy values for boolean variables. */
function truthy(value: string | undefined): boolean {
  return value !== undefined && ["1", "on", "yes", "true"].includes(value.trim().toLowerCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  return nonEmpty(env.HF_HOME) ?? path.join(nonEmpty(env.XDG_CACHE_HOME) ?? path.join(os.homedir(), ".cache"), "huggingface");
}

/** HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE) ?? path.join(hfHome(env), "hub");
}

/** HF_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token names (what `huggingface-cli login` writes). */
function hubToken(env: NodeJS.ProcessEnv): string | undefined {
  const token = nonEmpty(env.HF_TOKEN);
  if (token !== undefined) return token.trim();
  const file = nonEmpty(env.HF_TOKEN_PATH) ?? path.join(hfHome(env), "token");
  if (!fs.existsSync(file)) return undefined;
  return nonEmpty(fs.readFileSync(file, "utf8").trim());
}

/** The settings for `options` under the current environment. @throws TypeError naming a bad option. */
export function hubSettings(options: HubOptions, where: string, env: NodeJS.ProcessEnv = process.env): HubSettings {
  for (const key of ["revision", "cacheDir", "token"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value === ""))
      throw new TypeError(`${where}: ${key} must be a non-empty string but received ${describe(value)}`);
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== "function")
    throw new TypeError(`${where}: onProgress must be a function but received ${describe(options.onProgress)}`);
  return {
    cacheDir: path.resolve(options.cacheDir ?? hubCacheDir(env)),
    endpoint: (nonEmpty(env.HF_ENDPOINT) ?? "https://huggingface.co").replace(/\/+$/, ""),
    token: options.token ?? hubToken(env),
    offline: truthy(env.HF_HUB_OFFLINE),
    revision: options.revision ?? "main",
    onProgress: options.onProgress,
  };
}
