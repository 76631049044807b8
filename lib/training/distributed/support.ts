/**
 * Whether the loaded addon can train data-parallel, and with which c10d
 * backend: the one place that checks for the c10d bindings (additions to the
 * native interface, so an addon built without c10d's headers, or before them,
 * still loads and serves) and that chooses the backend by device: CPU tensors
 * go to Gloo, CUDA tensors to NCCL (native/process_group.cc routes them so).
 */
import type { Device } from "../../device";
import { UnsupportedError } from "../../errors";
import { addonPath, native, requireRevision, type Addon } from "../../native";

export type ProcessGroupFactory = NonNullable<Addon["NativeProcessGroup"]>;
export type CollectiveBackend = "gloo" | "nccl";

/** The c10d backends the addon was built with (its `c10dBackends`: "gloo", "nccl", "gloo,nccl" or ""). */
export function builtBackends(addon: Addon = native()): readonly CollectiveBackend[] {
  return (addon.c10dBackends ?? "").split(",").filter((b): b is CollectiveBackend => b === "gloo" || b === "nccl");
}

/** The backend that carries a module's tensors on `device`: NCCL on CUDA, Gloo on the CPU (as PyTorch's DDP). */
export function collectiveBackend(device: Device): CollectiveBackend {
  return device === "cpu" ? "gloo" : "nccl";
}

/** NativeProcessGroup of the loaded addon. @throws UnsupportedError naming why it is absent and the fix. */
export function processGroupFactory(addon: Addon = native()): ProcessGroupFactory {
  requireRevision("data-parallel training", 2);  // the CUDA prebuild from older sources has no c10d bindings
  const factory = addon.NativeProcessGroup;
  if (factory !== undefined && typeof factory.create === "function") return factory;
  const from = addonPath() ?? "the loaded addon";
  if (addon.c10dBackends === "")
    throw new UnsupportedError(`data-parallel training: ${from} was built without c10d (neither c10d's ProcessGroupGloo.hpp with gloo/ headers nor NCCL were found at build time): install libgloo-dev (Debian: apt-get install libgloo-dev) and rebuild (npm run build:native); CUDA models need a CUDA libtorch 2.x built with NCCL`);
  throw new UnsupportedError(`data-parallel training: ${from} predates data-parallel training (it has no NativeProcessGroup): rebuild the addon from source (npm run build:native) or use a prebuild made after it`);
}

/**
 * Checks that the addon has the backend each device needs, before any collective.
 * @throws UnsupportedError naming the device, the missing backend and the fix.
 */
export function requireBackends(devices: readonly Device[], addon: Addon = native()): void {
  const built = builtBackends(addon);
  const from = addonPath() ?? "the loaded addon";
  for (const device of devices) {
    const backend = collectiveBackend(device);
    if (built.includes(backend)) continue;
    throw new UnsupportedError(
      backend === "nccl"
        ? `data-parallel training of a model on "${device}": ${from} was built without c10d's NCCL (c10dBackends "${addon.c10dBackends ?? ""}"): build the addon against a CUDA libtorch 2.x built with NCCL, with nccl.h installed (the build prints "c10d NCCL found"), or train on "cpu"`
        : `data-parallel training of a model on "cpu": ${from} was built without c10d's Gloo (c10dBackends "${addon.c10dBackends ?? ""}"; pip wheels of libtorch ship no gloo/ headers): install libgloo-dev (Debian: apt-get install libgloo-dev) and rebuild (npm run build:native), or train on CUDA`,
    );
  }
}

export interface DataParallelSupport {
  readonly available: boolean;
  /** Why not, when not available. */
  readonly reason: string | null;
  /** The c10d backends built in: "gloo" trains CPU models, "nccl" CUDA models. */
  readonly backends: readonly CollectiveBackend[];
}

/** Whether the loaded addon can train data-parallel (a model on `device`, when given); `reason` says why not otherwise. */
export function dataParallelSupport(device?: Device): DataParallelSupport {
  const addon = native();
  const backends = builtBackends(addon);
  try {
    processGroupFactory(addon);
    if (device !== undefined) requireBackends([device], addon);
    return { available: true, reason: null, backends };
  } catch (error) {
    if (error instanceof UnsupportedError) return { available: false, reason: error.message, backends };
    throw error;
  }
}
