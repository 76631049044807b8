import { addonEnvironment, addonPath, native, type LoadEnvironment, type RuntimeInfo } from "./native";

/** What this process runs on: libtorch version and origin, CUDA, threads, the addon file, the environment it loaded under. */
export function runtimeInfo(): RuntimeInfo & { addon: string; environment: LoadEnvironment } {
  const info = native().runtimeInfo();
  return { ...info, addon: addonPath() ?? "", environment: addonEnvironment()! };
}
