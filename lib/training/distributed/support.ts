/**
 * Whether the loaded addon can train data-parallel: the one place that checks
 * for the c10d bindings (additions to the native interface, so an addon built
 * without c10d's Gloo headers, or before them, still loads and serves).
 */
import { UnsupportedError } from "../../errors";
import { addonPath, native, requireRevision, type Addon } from "../../native";

export type ProcessGroupFactory = NonNullable<Addon["NativeProcessGroup"]>;

/** NativeProcessGroup of the loaded addon. @throws UnsupportedError naming why it is absent and the fix. */
export function processGroupFactory(addon: Addon = native()): ProcessGroupFactory {
  requireRevision("data-parallel training", 2);  // the CUDA prebuild from older sources has no c10d bindings
  const factory = addon.NativeProcessGroup;
  if (factory !== undefined && typeof factory.create === "function") return factory;
  const from = addonPath() ?? "the loaded addon";
  if (addon.c10dBackends === "")
    throw new UnsupportedError(`data-parallel training: ${from} was built without c10d/Gloo support (c10d's ProcessGroupGloo.hpp or gloo/ headers were not found at build time): install libgloo-dev (Debian: apt-get install libgloo-dev) and rebuild (npm run build:native)`);
  throw new UnsupportedError(`data-parallel training: ${from} predates data-parallel training (it has no NativeProcessGroup): rebuild the addon from source (npm run build:native) or use a prebuild made after it`);
}

/** True when the loaded addon can train data-parallel; `reason` says why not otherwise. */
export function dataParallelSupport(): { readonly available: boolean; readonly reason: string | null } {
  try {
    processGroupFactory();
    return { available: true, reason: null };
  } catch (error) {
    if (error instanceof UnsupportedError) return { available: false, reason: error.message };
    throw error;
  }
}
