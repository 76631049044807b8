/**
 * Token ids against the model's vocabulary (config.json's vocab_size): a
 * tokenizer that can produce ids the embedding table lacks is refused at
 * load, and every id batch is checked in JS before the forward, where the
 * ids are made (an out-of-range id is an opaque index error on CPU and a
 * device-side assert, which poisons the CUDA context, on GPU).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { CheckpointError } from "../errors";
import { isJsonObject, readJsonObject } from "../tokenization";

/** One more than the largest id tokenizer.json can produce (its model's vocab and added tokens); undefined without tokenizer.json. */
export async function tokenizerVocabularySize(dir: string): Promise<number | undefined> {
  const file = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(file)) return undefined;
  const json = await readJsonObject(file, "tokenizer.json");
  let size = 0;
  const model = json.model;
  if (isJsonObject(model)) {
    const vocab = model.vocab;
    if (Array.isArray(vocab)) size = vocab.length;  // Unigram: [[piece, score], ...], ids are positions
    else if (isJsonObject(vocab)) for (const id of Object.values(vocab)) if (typeof id === "number" && id + 1 > size) size = id + 1;
  }
  if (Array.isArray(json.added_tokens))
    for (const token of json.added_tokens) if (isJsonObject(token) && typeof token.id === "number" && token.id + 1 > size) size = token.id + 1;
  return size;
}

/** @throws CheckpointError when the tokenizer can produce ids at or beyond the model's vocab_size. */
export async function checkTokenizerFitsModel(dir: string, vocabSize: number): Promise<void> {
  const size = await tokenizerVocabularySize(dir);
  if (size !== undefined && size > vocabSize)
    throw new CheckpointError(
      `${path.join(dir, "tokenizer.json")}: the tokenizer has ${size} token ids but ${path.join(dir, "config.json")} says vocab_size ${vocabSize}: ids ${vocabSize}..${size - 1} have no embedding. Use the tokenizer saved with this model`,
    );
}

/**
 * @param ids row-major [rows, columns] token ids.
 * @throws RangeError naming the first id outside [0, vocabSize), its position and the vocabulary size.
 */
export function checkTokenIds(ids: BigInt64Array, columns: number, vocabSize: number, what: string): void {
  const limit = BigInt(vocabSize);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as bigint;
    if (id >= 0n && id < limit) continue;
    throw new RangeError(`${what}: token id ${id} at row ${Math.floor(i / columns)}, position ${i % columns} is outside the model's vocabulary [0, ${vocabSize}) (config.json vocab_size ${vocabSize})`);
  }
}
