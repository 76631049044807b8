import { cuda } from "../../lib";

/** Why CUDA tests cannot run here, printed once per file; undefined when a GPU is usable. */
export function cudaMissing(file: string): string | undefined {
  if (cuda.isAvailable()) return undefined;
  const reason = "no CUDA device visible to this libtorch (CPU build or no GPU); run scripts/gpu-check.sh on a GPU machine";
  console.log(`skipped ${file}: ${reason}`);
  return reason;
}
