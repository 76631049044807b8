import { cuda } from "../../lib";
import { reportSkip } from "./skip";

/** Why CUDA tests cannot run here, printed once per file; undefined when a GPU is usable. */
export function cudaMissing(file: string): string | undefined {
  if (cuda.isAvailable()) return undefined;
  const reason = "no CUDA device visible to this libtorch (CPU build or no GPU); run scripts/gpu-check.sh on a GPU machine";
  reportSkip(`skipped ${file}: ${reason}`);
  return reason;
}
