/** Inputs and seeded weights shared by test/unit/inference-path.test.ts and its child process (inference-forward.ts). */
import { type Module, Tensor } from "../../lib";
import { seededValues } from "./torch-reference";

/** A padded batch [3, 7]: lengths 7, 4, 1 (the padding rows exercise the additive mask); `shift` changes the ids. */
export function inferenceBatch(shift = 0, lengths = [7, 4, 1]): Tensor[] {
  const width = Math.max(...lengths);
  const ids = new BigInt64Array(lengths.length * width);
  const mask = new BigInt64Array(lengths.length * width);
  lengths.forEach((len, b) => {
    for (let i = 0; i < width; i++) {
      ids[b * width + i] = BigInt(i < len ? 3 + ((b * 11 + i * 7 + shift) % 45) : 0);
      mask[b * width + i] = i < len ? 1n : 0n;
    }
  });
  return [Tensor.from(ids, [lengths.length, width]), Tensor.from(mask, [lengths.length, width])];
}

/** New random weights for every parameter (seeded), loaded with loadStateDict (copy_ into the existing tensors). */
export async function seedWeights(m: Module, seed: number): Promise<void> {
  const fresh = new Map(m.namedParameters().map((p, i) => [p.name, Tensor.from(seededValues(seed + i, p.shape.reduce((a, b) => a * b, 1)), p.shape)]));
  await m.loadStateDict(fresh);
  for (const t of fresh.values()) t.dispose();
}
