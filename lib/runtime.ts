import { addonPath, native, type RuntimeInfo } from "./native";

/** What this process runs on: libtorch version and origin, CUDA, threads, the addon file. */
export function runtimeInfo(): RuntimeInfo & { addon: string } {
  const info = native().runtimeInfo();
  return { ...info, addon: addonPath() ?? "" };
}
