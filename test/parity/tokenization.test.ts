/**
 * Token ids and masks equal those transformers computed for the fixtures
 * (reference.json / reference.safetensors), text by text and as batches.
 */
import * as path from "node:path";
import { TextTokenizer } from "../../lib/tokenization";
import { FIXTURES, readReferenceJson, readReferenceTensor } from "../helpers/fixtures";

/** Rows of a BigInt64Array [rows, length] as number[][] for readable diffs. */
function rows(values: BigInt64Array, length: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += length) out.push(Array.from(values.subarray(i, i + length), Number));
  return out;
}

/** A float32 [rows, length] reference tensor as integer rows. */
function tensorRows(name: string, key: string): number[][] {
  const tensor = readReferenceTensor(name, key);
  const length = tensor.shape[1] ?? 0;
  const out: number[][] = [];
  for (let i = 0; i < tensor.data.length; i += length) out.push(Array.from(tensor.data.subarray(i, i + length)));
  return out;
}

/** `[index, short label, text]` per text, for test names that stay readable with the long text. */
const cases = (texts: readonly string[]): (readonly [number, string, string])[] =>
  texts.map((text, i) => [i, JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text), text] as const);

const load = (name: string): Promise<TextTokenizer> => TextTokenizer.fromPretrained(path.join(FIXTURES, name));
const FIXED = { maxLength: 32, padding: "max_length" } as const;

describe("bert-tiny (WordPiece)", () => {
  const ref = readReferenceJson("bert-tiny");
  let tok: TextTokenizer;
  beforeAll(async () => {
    tok = await load("bert-tiny");
  });

  test("reads pad id 0 and model_max_length 32", () => {
    expect(tok.padTokenId).toBe(0);
    expect(tok.modelMaxLength).toBe(32);
  });

  test.each(cases(ref.texts))(
    "text %i (%s) alone, padded to max_length 32, has transformers' ids and mask",
    (i, _label, text) => {
      const got = tok.encodeBatch([text], FIXED);
      expect(rows(got.inputIds, 32)).toEqual([ref.intRows("fixed.input_ids")[i]]);
      expect(rows(got.attentionMask, 32)).toEqual([ref.intRows("fixed.attention_mask")[i]]);
      expect(rows(got.tokenTypeIds, 32)).toEqual([new Array<number>(32).fill(0)]);
    },
  );

  test("the batch padded to max_length 32 equals fixed.input_ids and fixed.attention_mask", () => {
    const got = tok.encodeBatch(ref.texts, FIXED);
    expect([got.batchSize, got.length]).toEqual([8, 32]);
    expect(rows(got.inputIds, got.length)).toEqual(ref.intRows("fixed.input_ids"));
    expect(rows(got.attentionMask, got.length)).toEqual(ref.intRows("fixed.attention_mask"));
  });

  test("the batch padded to the longest (default options) equals dynamic.*, the long text cut to [CLS] 30 tokens [SEP]", () => {
    const got = tok.encodeBatch(ref.texts);
    expect(got.length).toBe(ref.intRows("dynamic.input_ids")[0]?.length);
    expect(rows(got.inputIds, got.length)).toEqual(ref.intRows("dynamic.input_ids"));
    expect(rows(got.attentionMask, got.length)).toEqual(ref.intRows("dynamic.attention_mask"));
  });

  test("encodePair(texts[0], texts[1]) without truncation equals pair.input_ids and pair.token_type_ids", () => {
    const got = tok.encodePair(ref.texts[0] ?? "", ref.texts[1] ?? "", { truncation: false });
    const ids = ref.intRow("pair.input_ids");
    expect([got.batchSize, got.length]).toEqual([1, ids.length]);
    expect(rows(got.inputIds, got.length)).toEqual([ids]);
    expect(rows(got.tokenTypeIds, got.length)).toEqual([ref.intRow("pair.token_type_ids")]);
    expect(rows(got.attentionMask, got.length)).toEqual([new Array<number>(ids.length).fill(1)]);
  });

  test("encodePair truncated to 32 drops the last token of the first text (longest_first, 15 + 15 tokens into 29)", () => {
    // Both texts have 15 tokens; HF's LongestFirst keeps floor(29/2)=14 of the first and 15 of the second.
    const ids = ref.intRow("pair.input_ids");
    const types = ref.intRow("pair.token_type_ids");
    const got = tok.encodePair(ref.texts[0] ?? "", ref.texts[1] ?? "");
    expect(rows(got.inputIds, got.length)).toEqual([ids.filter((_, j) => j !== 15)]);
    expect(rows(got.tokenTypeIds, got.length)).toEqual([types.filter((_, j) => j !== 15)]);
  });
});

describe("xlmr-tiny (Unigram with Nmt normaliser)", () => {
  const ref = readReferenceJson("xlmr-tiny");
  let tok: TextTokenizer;
  beforeAll(async () => {
    tok = await load("xlmr-tiny");
  });

  test("reads pad id 1 and model_max_length 32", () => {
    expect(tok.padTokenId).toBe(1);
    expect(tok.modelMaxLength).toBe(32);
  });

  for (const [variant, prefix] of [["plain", ""], ["query", "query: "]] as const) {
    test.each(cases(ref.texts))(
      `${variant}: text %i (%s) alone, padded to max_length 32, has transformers' ids and mask`,
      (i, _label, text) => {
        const got = tok.encodeBatch([text], { ...FIXED, prefix });
        expect(rows(got.inputIds, 32)).toEqual([ref.intRows(`${variant}.fixed.input_ids`)[i]]);
        expect(rows(got.attentionMask, 32)).toEqual([tensorRows("xlmr-tiny", `${variant}.fixed.attention_mask`)[i]]);
      },
    );

    test(`${variant}: the batch padded to max_length 32 equals ${variant}.fixed.*`, () => {
      const got = tok.encodeBatch(ref.texts, { ...FIXED, prefix });
      expect(rows(got.inputIds, got.length)).toEqual(ref.intRows(`${variant}.fixed.input_ids`));
      expect(rows(got.attentionMask, got.length)).toEqual(tensorRows("xlmr-tiny", `${variant}.fixed.attention_mask`));
    });

    test(`${variant}: the batch padded to the longest equals ${variant}.dynamic.*`, () => {
      const got = tok.encodeBatch(ref.texts, { prefix });
      expect(rows(got.inputIds, got.length)).toEqual(ref.intRows(`${variant}.dynamic.input_ids`));
      expect(rows(got.attentionMask, got.length)).toEqual(tensorRows("xlmr-tiny", `${variant}.dynamic.attention_mask`));
    });
  }
});

describe("clip-tiny (byte-level BPE)", () => {
  const ref = readReferenceJson("clip-tiny");
  let tok: TextTokenizer;
  beforeAll(async () => {
    tok = await load("clip-tiny");
  });

  test("reads pad id 1 (<|endoftext|>) and model_max_length 77", () => {
    expect(tok.padTokenId).toBe(1);
    expect(tok.modelMaxLength).toBe(77);
  });

  test.each(cases(ref.texts))(
    "text %i (%s) alone, padded to max_length 77, has transformers' ids and mask",
    (i, _label, text) => {
      const got = tok.encodeBatch([text], { padding: "max_length" });
      expect(got.length).toBe(77);
      expect(rows(got.inputIds, 77)).toEqual([ref.intRows("input_ids")[i]]);
      expect(rows(got.attentionMask, 77)).toEqual([ref.intRows("attention_mask")[i]]);
    },
  );

  test("the batch padded to 77 equals input_ids and attention_mask, the long text cut to 77", () => {
    const got = tok.encodeBatch(ref.texts, { maxLength: 77, padding: "max_length" });
    expect([got.batchSize, got.length]).toEqual([8, 77]);
    expect(rows(got.inputIds, 77)).toEqual(ref.intRows("input_ids"));
    expect(rows(got.attentionMask, 77)).toEqual(ref.intRows("attention_mask"));
  });
});
