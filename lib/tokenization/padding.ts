/**
 * Packs token runs into padded row-major int64 arrays: one allocation per
 * array, filled with the pad values, then each token written in place.
 */
import type { Side } from "./truncation";

/**
 * A batch of tokenised texts, row-major: token `j` of text `i` is at
 * `i * length + j`. All arrays are int64 with `batchSize * length` elements,
 * ready to become `[batchSize, length]` tensors.
 */
export interface BatchEncoding {
  /** Number of texts (rows). */
  readonly batchSize: number;
  /** Padded length of every row. */
  readonly length: number;
  /** Token ids; padding holds the pad token id. */
  readonly inputIds: BigInt64Array;
  /** 1 for a token, 0 for padding. */
  readonly attentionMask: BigInt64Array;
  /** Token type (segment) ids: 0 except for the second text of a pair where the tokenizer says so; 0 on padding. */
  readonly tokenTypeIds: BigInt64Array;
}

/** `ids[start..end)`, all with token type `typeId`: a special token group or the kept part of a text. */
export interface TokenRun {
  readonly ids: readonly number[];
  readonly start: number;
  readonly end: number;
  readonly typeId: number;
}

/** Total number of tokens in a row of runs. */
export function rowLength(row: readonly TokenRun[]): number {
  let length = 0;
  for (const run of row) length += run.end - run.start;
  return length;
}

/**
 * Writes rows of runs into a {@link BatchEncoding} of `length` columns.
 *
 * @param rows the runs of each row, none longer than `length` in total.
 * @param length padded row length.
 * @param padTokenId id written into `inputIds` on padding.
 * @param side "right" puts the padding after the tokens, "left" before them.
 */
export function packRows(rows: readonly (readonly TokenRun[])[], length: number, padTokenId: number, side: Side): BatchEncoding {
  const size = rows.length * length;
  const inputIds = new BigInt64Array(size).fill(BigInt(padTokenId));
  const attentionMask = new BigInt64Array(size);
  const tokenTypeIds = new BigInt64Array(size);
  rows.forEach((row, i) => {
    let at = i * length + (side === "left" ? length - rowLength(row) : 0);
    for (const run of row) {
      const typeId = BigInt(run.typeId);
      for (let j = run.start; j < run.end; j++, at++) {
        const id = run.ids[j];
        if (id === undefined) throw new RangeError(`packRows: run [${run.start}, ${run.end}) exceeds its ${run.ids.length} ids`);
        inputIds[at] = BigInt(id);
        attentionMask[at] = 1n;
        tokenTypeIds[at] = typeId;
      }
    }
  });
  return Object.freeze({ batchSize: rows.length, length, inputIds, attentionMask, tokenTypeIds });
}

/**
 * Stacks encodings (each already padded on `side`, e.g. single texts) into
 * one batch padded to the longest: rows keep their tokens, mask and type
 * ids; the new columns are padding (`padTokenId`, mask 0, type 0). Used to
 * join queries tokenized one by one (lib/models/query-batcher.ts).
 */
export function stackEncodings(encodings: readonly BatchEncoding[], padTokenId: number, side: Side): BatchEncoding {
  if (encodings.length === 1) return encodings[0] as BatchEncoding;
  let length = 0;
  let rows = 0;
  for (const e of encodings) {
    length = Math.max(length, e.length);
    rows += e.batchSize;
  }
  const inputIds = new BigInt64Array(rows * length).fill(BigInt(padTokenId));
  const attentionMask = new BigInt64Array(rows * length);
  const tokenTypeIds = new BigInt64Array(rows * length);
  let row = 0;
  for (const e of encodings) {
    for (let i = 0; i < e.batchSize; i++, row++) {
      const from = i * e.length;
      const to = row * length + (side === "left" ? length - e.length : 0);
      inputIds.set(e.inputIds.subarray(from, from + e.length), to);
      attentionMask.set(e.attentionMask.subarray(from, from + e.length), to);
      tokenTypeIds.set(e.tokenTypeIds.subarray(from, from + e.length), to);
    }
  }
  return Object.freeze({ batchSize: rows, length, inputIds, attentionMask, tokenTypeIds });
}
