/**
 * Truncation rules, padding sides, the Nmt rewrite and argument / file
 * errors of lib/tokenization. Expected values come from the fixtures
 * (transformers) or from the Rust `tokenizers` sources cited per test.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { TextTokenizer, TokenizerFileError } from "../../lib/tokenization";
import { withSupportedNormalizers } from "../../lib/tokenization/normalizer-compat";
import { keptPairLengths } from "../../lib/tokenization/truncation";
import { asciiClipBpe } from "../../lib/tokenization/ascii-clip-bpe";
import { asciiUnigram } from "../../lib/tokenization/ascii-unigram";
import { asciiWordPiece } from "../../lib/tokenization/ascii-wordpiece";
import { FIXTURES, readReferenceJson } from "../helpers/fixtures";

const BERT = path.join(FIXTURES, "bert-tiny");
const bertRef = readReferenceJson("bert-tiny");
const fixedRow = (i: number): number[] => bertRef.intRows("fixed.input_ids")[i] ?? [];
const asNumbers = (values: BigInt64Array): number[] => Array.from(values, Number);

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** A temporary copy of bert-tiny's tokenizer files, each JSON object passed through `edit`. */
function bertCopy(edit: { tokenizer?: (j: Record<string, unknown>) => unknown; config?: (j: Record<string, unknown>) => unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tok-test-"));
  const tokenizer = readJson(path.join(BERT, "tokenizer.json"));
  const config = readJson(path.join(BERT, "tokenizer_config.json"));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(edit.tokenizer ? edit.tokenizer(tokenizer) : tokenizer));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(edit.config ? edit.config(config) : config));
  return dir;
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<TokenizerFileError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TokenizerFileError)) throw new Error(`expected a TokenizerFileError, got ${String(error)}`);
  return error;
}

let bert: TextTokenizer;
beforeAll(async () => {
  bert = await TextTokenizer.fromPretrained(BERT);
});

describe("truncation", () => {
  test("maxLength 8 keeps [CLS], the first 6 tokens and [SEP] of each text, and leaves shorter texts whole", () => {
    const got = bert.encodeBatch(bertRef.texts, { maxLength: 8, padding: "max_length" });
    const expected = bertRef.texts.map((_, i) => {
      const tokens = fixedRow(i).filter((id) => id !== 0); // the fixture row without padding
      const content = tokens.slice(1, -1);
      const row = content.length > 6 ? [2, ...content.slice(0, 6), 3] : tokens;
      return [...row, ...new Array<number>(8 - row.length).fill(0)];
    });
    expect(asNumbers(got.inputIds)).toEqual(expected.flat());
  });

  test("maxLength equal to the number of special tokens leaves [CLS] [SEP] for every text", () => {
    const got = bert.encodeBatch(bertRef.texts, { maxLength: 2 });
    expect(got.length).toBe(2);
    expect(asNumbers(got.inputIds)).toEqual(new Array<number[]>(8).fill([2, 3]).flat());
  });

  test("truncation false keeps all 162 tokens of the long text and pads the others to it", () => {
    const got = bert.encodeBatch([bertRef.texts[6] ?? "", ""], { truncation: false, padding: "max_length" });
    expect(got.length).toBe(162);
    expect(asNumbers(got.inputIds).slice(0, 32 - 1)).toEqual(fixedRow(6).slice(0, 31));
    expect(asNumbers(got.inputIds)[161]).toBe(3);
    expect(asNumbers(got.attentionMask.subarray(162))).toEqual([1, 1, ...new Array<number>(160).fill(0)]);
  });

  // Expected pairs: the LongestFirst table in Rust tokenizers/src/utils/truncation.rs
  // (truncate_encodings_longest_first, max_length 7, lengths 0, 2, 4 and 8).
  test.each([
    [0, 0, 0, 0], [0, 2, 0, 2], [0, 4, 0, 4], [0, 8, 0, 7],
    [2, 0, 2, 0], [2, 2, 2, 2], [2, 4, 2, 4], [2, 8, 2, 5],
    [4, 0, 4, 0], [4, 2, 4, 2], [4, 4, 3, 4], [4, 8, 3, 4],
    [8, 0, 7, 0], [8, 2, 5, 2], [8, 4, 4, 3], [8, 8, 3, 4],
  ])("a pair of %i and %i tokens keeps %i and %i of them in 7 (HF longest_first)", (n1, n2, kept1, kept2) => {
    expect(keptPairLengths(n1, n2, 7)).toEqual([kept1, kept2]);
  });

  test("a pair keeps nothing of either text when the room is 0 (HF max_length 0)", () => {
    expect(keptPairLengths(4, 8, 0)).toEqual([0, 0]);
  });
});

describe("padding and truncation sides from tokenizer_config.json", () => {
  test('padding_side "left" puts the pad ids and zero mask before the tokens', async () => {
    const tok = await TextTokenizer.fromPretrained(bertCopy({ config: (c) => ({ ...c, padding_side: "left" }) }));
    const got = tok.encodeBatch(["", bertRef.texts[0] ?? ""]);
    expect(got.length).toBe(17);
    expect(asNumbers(got.inputIds.subarray(0, 17))).toEqual([...new Array<number>(15).fill(0), 2, 3]);
    expect(asNumbers(got.attentionMask.subarray(0, 17))).toEqual([...new Array<number>(15).fill(0), 1, 1]);
    expect(asNumbers(got.inputIds.subarray(17))).toEqual(fixedRow(0).slice(0, 17));
  });

  test('truncation_side "left" keeps the last tokens of a text and still ends it with [SEP]', async () => {
    const tok = await TextTokenizer.fromPretrained(bertCopy({ config: (c) => ({ ...c, truncation_side: "left" }) }));
    const long = bertRef.texts[6] ?? "";
    const all = asNumbers(bert.encodeBatch([long], { truncation: false }).inputIds);
    const got = tok.encodeBatch([long], { maxLength: 10 });
    expect(asNumbers(got.inputIds)).toEqual([2, ...all.slice(-9, -1), 3]);
  });
});

describe("batches", () => {
  test("an empty batch has no rows", () => {
    const got = bert.encodeBatch([]);
    expect([got.batchSize, got.length, got.inputIds.length]).toEqual([0, 0, 0]);
  });

  test("arrays are int64 (BigInt64Array) of batchSize * length elements", () => {
    const got = bert.encodeBatch(["a", "bb cc"], { maxLength: 16, padding: "max_length" });
    for (const array of [got.inputIds, got.attentionMask, got.tokenTypeIds]) {
      expect(array).toBeInstanceOf(BigInt64Array);
      expect(array.length).toBe(2 * 16);
    }
  });
});

describe("Nmt normaliser rewrite (missing in @huggingface/tokenizers 0.2.0)", () => {
  // Code points from Rust tokenizers/src/normalizers/unicode.rs, do_nmt.
  const removed = [0x1, 0x2, 0x5, 0x8, 0xb, 0xe, 0x10, 0x1f, 0x7f, 0x8f, 0x9f];
  const toSpace = [0x9, 0xa, 0xc, 0xd, 0x1680, 0x200b, 0x200d, 0x200f, 0x2028, 0x2029, 0x2581, 0xfeff, 0xfffd];
  const kept = [0x0, 0x20, 0x41, 0x80, 0x85, 0xa0, 0x2000, 0x2010, 0x3000];
  const nmtTokenizer = (): Tokenizer => {
    const json = readJson(path.join(BERT, "tokenizer.json"));
    return new Tokenizer(withSupportedNormalizers({ ...json, normalizer: { type: "Nmt" } }), {});
  };

  test("the library itself rejects a tokenizer.json with an Nmt normaliser", () => {
    const json = readJson(path.join(BERT, "tokenizer.json"));
    expect(() => new Tokenizer({ ...json, normalizer: { type: "Nmt" } }, {})).toThrow(/Unknown Normalizer type: Nmt/);
  });

  test.each(removed)("code point 0x%s is removed", (cp) => {
    expect(nmtTokenizer().normalizer!.normalize(`a${String.fromCodePoint(cp)}b`)).toBe("ab");
  });

  test.each(toSpace)("code point 0x%s becomes a space", (cp) => {
    expect(nmtTokenizer().normalizer!.normalize(`a${String.fromCodePoint(cp)}b`)).toBe("a b");
  });

  test.each(kept)("code point 0x%s is kept", (cp) => {
    const text = `a${String.fromCodePoint(cp)}b`;
    expect(nmtTokenizer().normalizer!.normalize(text)).toBe(text);
  });

  test("an Nmt inside a Sequence is rewritten and the rest of the Sequence kept", () => {
    const json = { model: {}, normalizer: { type: "Sequence", normalizers: [{ type: "Nmt" }, { type: "NFKC" }] } };
    expect(withSupportedNormalizers(json)["normalizer"]).toMatchObject({
      type: "Sequence",
      normalizers: [{ type: "Sequence", normalizers: [{ type: "Replace" }, { type: "Replace" }] }, { type: "NFKC" }],
    });
  });
});

describe("argument errors", () => {
  test("encodeBatch names the index of a text that is not a string", () => {
    const texts: unknown = ["a", "b", 5];
    expect(() => bert.encodeBatch(texts as string[])).toThrow(new TypeError("encodeBatch: texts[2] must be a string, received number 5"));
  });

  test("encodeBatch names a hole in a sparse array", () => {
    const texts = new Array<string>(2);
    texts[1] = "b";
    expect(() => bert.encodeBatch(texts)).toThrow(new TypeError("encodeBatch: texts[0] must be a string, received undefined"));
  });

  test("encodeBatch rejects a string in place of the array", () => {
    const texts: unknown = "one text";
    expect(() => bert.encodeBatch(texts as string[])).toThrow(TypeError);
    expect(() => bert.encodeBatch(texts as string[])).toThrow(/texts must be an array of strings, received string "one text"/);
  });

  test.each([
    [1, "between 2 (the special tokens) and 32 (model_max_length), received 1"],
    [33, "between 2 (the special tokens) and 32 (model_max_length), received 33"],
    [2.5, "received 2.5"],
    [Number.NaN, "received NaN"],
  ])("encodeBatch maxLength %p is a RangeError naming the allowed range", (maxLength, message) => {
    expect(() => bert.encodeBatch(["a"], { maxLength })).toThrow(RangeError);
    expect(() => bert.encodeBatch(["a"], { maxLength })).toThrow(message);
  });

  test("encodePair needs room for the 3 special tokens of a BERT pair", () => {
    expect(() => bert.encodePair("a", "b", { maxLength: 2 })).toThrow(RangeError);
    expect(() => bert.encodePair("a", "b", { maxLength: 2 })).toThrow(/maxLength must be an integer between 3 \(the special tokens\)/);
  });

  test("a mistyped option is a TypeError naming the option and the value", () => {
    const bad = (options: unknown) => () => bert.encodeBatch(["a"], options as object);
    expect(bad({ maxLength: "32" })).toThrow(new TypeError('encodeBatch: options.maxLength must be a number, received string "32"'));
    expect(bad({ prefix: 1 })).toThrow(new TypeError("encodeBatch: options.prefix must be a string, received number 1"));
    expect(bad({ truncation: "yes" })).toThrow(new TypeError('encodeBatch: options.truncation must be a boolean, received string "yes"'));
    expect(bad(null)).toThrow(new TypeError("encodeBatch: options must be an object, received null"));
  });

  test("an unknown padding is a RangeError listing the accepted values", () => {
    const options: unknown = { padding: "max" };
    expect(() => bert.encodeBatch(["a"], options as object)).toThrow(
      new RangeError('encodeBatch: options.padding must be "longest" or "max_length", received string "max"'),
    );
  });

  test("encodePair rejects a prefix and non-string texts", () => {
    const options: unknown = { prefix: "query: " };
    expect(() => bert.encodePair("a", "b", options as object)).toThrow(/options.prefix is not accepted for a pair/);
    const a: unknown = 1;
    expect(() => bert.encodePair(a as string, "b")).toThrow(new TypeError("encodePair: a must be a string, received number 1"));
  });
});

describe("file errors of fromPretrained", () => {
  test("a missing folder names tokenizer.json's path and says it is not found", async () => {
    const dir = path.join(os.tmpdir(), "no-such-tokenizer-dir");
    const error = await rejection(TextTokenizer.fromPretrained(dir));
    expect(error.code).toBe("ERR_CHECKPOINT");
    expect(error.message).toBe(`TextTokenizer.fromPretrained(${JSON.stringify(dir)}): ${path.join(dir, "tokenizer.json")}: file not found`);
  });

  test("invalid JSON in tokenizer_config.json names the file", async () => {
    const dir = bertCopy({});
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), "{ not json");
    const error = await rejection(TextTokenizer.fromPretrained(dir));
    expect(error.message).toContain(`${path.join(dir, "tokenizer_config.json")}: not valid JSON`);
  });

  test("a missing pad_token says which files were searched and how to fix it", async () => {
    const dir = bertCopy({ config: ({ pad_token: _pad, ...rest }) => rest });
    await expect(TextTokenizer.fromPretrained(dir)).rejects.toThrow(
      /tokenizer_config.json has no pad_token and tokenizer.json no padding.pad_id; batches need one: add "pad_token"/,
    );
  });

  test("a pad_token outside the vocabulary is named", async () => {
    const dir = bertCopy({ config: (c) => ({ ...c, pad_token: "<nope>" }) });
    await expect(TextTokenizer.fromPretrained(dir)).rejects.toThrow(/pad_token "<nope>" is not in tokenizer.json's vocabulary/);
  });

  test("a model_max_length that is not a positive integer is named with its value", async () => {
    const dir = bertCopy({ config: (c) => ({ ...c, model_max_length: -4 }) });
    await expect(TextTokenizer.fromPretrained(dir)).rejects.toThrow(/model_max_length must be a positive integer, found number -4/);
  });

  test("model_max_length 1e30 (transformers' 'no limit') means no truncation unless maxLength is given", async () => {
    const tok = await TextTokenizer.fromPretrained(bertCopy({ config: (c) => ({ ...c, model_max_length: 1e30 }) }));
    expect(tok.modelMaxLength).toBe(Infinity);
    expect(tok.encodeBatch([bertRef.texts[6] ?? ""]).length).toBe(162);
    expect(() => tok.encodeBatch(["a"], { padding: "max_length" })).toThrow(RangeError);
  });

  test("an unsupported post_processor type is ERR_UNSUPPORTED naming the type", async () => {
    const dir = bertCopy({ tokenizer: (j) => ({ ...j, post_processor: { type: "Magic" } }) });
    const error = await rejection(TextTokenizer.fromPretrained(dir));
    expect(error.code).toBe("ERR_UNSUPPORTED");
    expect(error.message).toMatch(/tokenizer.json: post_processor.type string "Magic" is not supported/);
  });

  test("a normaliser the JS library lacks is ERR_UNSUPPORTED quoting the library's error", async () => {
    const dir = bertCopy({ tokenizer: (j) => ({ ...j, normalizer: { type: "Magic" } }) });
    const error = await rejection(TextTokenizer.fromPretrained(dir));
    expect(error.code).toBe("ERR_UNSUPPORTED");
    expect(error.message).toMatch(/tokenizer.json: @huggingface\/tokenizers cannot build this tokenizer: Unknown Normalizer type: Magic/);
  });
});

/**
 * Deterministic texts for the ASCII fast paths: vocabulary words in any case, junk words, digits,
 * punctuation runs, contractions and stray apostrophes, long words, odd spacing, the added tokens
 * (in any case), non-ASCII.
 */
function generatedTexts(vocab: readonly string[], addedTokens: readonly string[], count: number, seed: number): string[] {
  let s = seed;
  const rand = (n: number): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
  const pick = <T>(items: readonly T[]): T => items[rand(items.length)] as T;
  const words = vocab.filter((w) => /^[\x21-\x7e]+$/.test(w));
  const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  const junk = (n: number): string => Array.from({ length: n }, () => alnum[rand(alnum.length)]).join("");
  const parts: (() => string)[] = [
    () => pick(words),
    () => pick(words).toUpperCase(),
    () => { const w = pick(words); return w.charAt(0).toUpperCase() + w.slice(1); },
    () => pick(words) + pick(words).replace(/^##/, ""),
    () => junk(1 + rand(14)),
    () => String(rand(100000)),
    () => punct[rand(punct.length)] as string,
    () => punct[rand(punct.length)] as string + pick(words) + punct[rand(punct.length)],
    () => junk(95 + rand(12)),  // around max_input_chars_per_word (100)
    () => "##" + pick(words),
    () => pick(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'RE", "'", "''", "'x", "'r", "'l", "n't", "!'s", ".''ll"]) + pick(["", pick(words)]),
    () => { const t = pick(addedTokens); return pick([t, t.toLowerCase(), t.toUpperCase()]); },  // added tokens: the library splits them out
    () => pick(["café", "naïve", "中文", "tab\there", "new\nline", "\u00a0", "e\u0301"]),  // not printable ASCII: left to the library
  ];
  return Array.from({ length: count }, () => {
    const n = rand(12);
    let text = " ".repeat(rand(3));
    for (let i = 0; i < n; i++) text += pick(parts)() + pick([" ", " ", "", "  ", " ", "-"]);
    return text;
  });
}

/**
 * Runs `texts` through a fast path and the library: a printable-ASCII text without an added
 * token's text (`added`, any case) must take the fast path, any other text must not, and every
 * text it takes must get exactly the library's ids. Returns how many texts it took.
 */
function expectLibraryIds(fast: ((text: string) => number[] | null) | null, library: Tokenizer, texts: readonly string[], added: RegExp): number {
  expect(fast).not.toBeNull();
  let taken = 0;
  for (const text of texts) {
    const ids = fast?.(text) ?? null;
    const ascii = /^[\x20-\x7e]*$/.test(text);
    if (ascii && !added.test(text)) expect({ text, taken: ids !== null }).toEqual({ text, taken: true });
    if (!ascii) expect({ text, ids }).toEqual({ text, ids: null });
    if (ids === null) continue;
    taken++;
    expect({ text, ids }).toEqual({ text, ids: library.encode(text, { add_special_tokens: false }).ids });
  }
  return taken;
}

/**
 * Each variant of `dir`'s tokenizer (its tokenizer.json edited) and each other fixture's
 * tokenizer gets no fast path from `fastPath`.
 */
function expectNoFastPath(
  fastPath: (json: Record<string, unknown>, config: Record<string, unknown>, library: Tokenizer) => unknown,
  dir: string,
  variants: readonly [string, (json: Record<string, unknown>) => void][],
  otherFixtures: readonly string[],
): void {
  const config = readJson(path.join(dir, "tokenizer_config.json"));
  for (const [what, edit] of variants) {
    const json = { ...withSupportedNormalizers(readJson(path.join(dir, "tokenizer.json"))) };
    edit(json);
    expect({ what, fast: fastPath(json, config, new Tokenizer(json, config)) }).toEqual({ what, fast: null });
  }
  for (const fixture of otherFixtures) {
    const json = withSupportedNormalizers(readJson(path.join(FIXTURES, fixture, "tokenizer.json")));
    const fixtureConfig = readJson(path.join(FIXTURES, fixture, "tokenizer_config.json"));
    expect({ fixture, fast: fastPath(json, fixtureConfig, new Tokenizer(json, fixtureConfig)) }).toEqual({ fixture, fast: null });
  }
}

/**
 * A fixture's reference texts: the fast path takes exactly the printable-ASCII ones, and
 * TextTokenizer gives every text the ids transformers wrote (`key`, padded rows).
 */
async function expectFixtureIds(
  fastPath: (json: Record<string, unknown>, config: Record<string, unknown>, library: Tokenizer) => ((text: string) => number[] | null) | null,
  fixture: string,
  key: string,
): Promise<void> {
  const dir = path.join(FIXTURES, fixture);
  const tokenizer = await TextTokenizer.fromPretrained(dir);
  const { texts, intRows } = readReferenceJson(fixture);
  const json = withSupportedNormalizers(readJson(path.join(dir, "tokenizer.json")));
  const config = readJson(path.join(dir, "tokenizer_config.json"));
  const fast = fastPath(json, config, new Tokenizer(json, config));
  const taken = texts.filter((text) => fast?.(text) != null);
  expect(taken).toEqual(texts.filter((text) => /^[\x20-\x7e]*$/.test(text)));
  expect(taken.length).toBeGreaterThanOrEqual(2);
  const rows = intRows(key);
  const length = rows[0]?.length ?? 0;
  const batch = tokenizer.encodeBatch(texts, { maxLength: length, padding: "max_length" });
  for (let i = 0; i < texts.length; i++) expect({ text: texts[i], ids: asNumbers(batch.inputIds.slice(i * length, (i + 1) * length)) }).toEqual({ text: texts[i], ids: rows[i] });
}

describe("the ASCII WordPiece fast path (lib/tokenization/ascii-wordpiece.ts) gives @huggingface/tokenizers' ids", () => {
  for (const [name, dir, edit] of [
    ["bert-tiny (uncased)", BERT, undefined],
    ["models/default (uncased)", path.join(__dirname, "..", "..", "models", "default"), undefined],
    ["bert-tiny with lowercase false (cased)", BERT, (n: Record<string, unknown>) => ({ ...n, lowercase: false })],
  ] as const) {
    test(`${name}: 4000 generated texts, each either left to the library or given exactly its ids`, () => {
      const json = readJson(path.join(dir, "tokenizer.json"));
      if (edit) json["normalizer"] = edit(json["normalizer"] as Record<string, unknown>);
      const config = readJson(path.join(dir, "tokenizer_config.json"));
      const supported = withSupportedNormalizers(json);
      const library = new Tokenizer(supported, config);
      const fast = asciiWordPiece(supported, config, library);
      const vocab = Object.keys((json["model"] as { vocab: Record<string, number> }).vocab);
      const texts = generatedTexts(vocab, ["[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"], 4000, 7);
      expect(expectLibraryIds(fast, library, texts, /\[(cls|sep|unk|pad|mask)\]/i)).toBeGreaterThan(1000);
    });
  }

  test("a tokenizer that is not BERT's WordPiece (XLM-R's Unigram, CLIP's BPE) or that fuses unknown tokens gets no fast path", () => {
    for (const fixture of ["xlmr-tiny", "clip-tiny"]) {
      const json = withSupportedNormalizers(readJson(path.join(FIXTURES, fixture, "tokenizer.json")));
      const config = readJson(path.join(FIXTURES, fixture, "tokenizer_config.json"));
      expect(asciiWordPiece(json, config, new Tokenizer(json, config))).toBeNull();
    }
    const json = readJson(path.join(BERT, "tokenizer.json"));
    json["model"] = { ...(json["model"] as object), fuse_unk: true };
    const config = readJson(path.join(BERT, "tokenizer_config.json"));
    expect(asciiWordPiece(json, config, new Tokenizer(json, config))).toBeNull();
  });
});

describe("the ASCII CLIP BPE fast path (lib/tokenization/ascii-clip-bpe.ts) gives @huggingface/tokenizers' ids", () => {
  const CLIP = path.join(FIXTURES, "clip-tiny");
  type Json = Record<string, unknown>;
  const modelOf = (json: Json): Json => json["model"] as Json;
  const withModel = (json: Json, changes: Json): void => {
    json["model"] = { ...modelOf(json), ...changes };
  };
  const vocabOf = (json: Json): Record<string, number> => modelOf(json)["vocab"] as Record<string, number>;

  for (const [name, edit] of [
    ["clip-tiny (lowercasing, pair merges)", () => undefined],
    ["clip-tiny without Lowercase (cased)", (json: Json) => {
      const normalizer = json["normalizer"] as { normalizers: Json[] };
      json["normalizer"] = { ...normalizer, normalizers: normalizer.normalizers.filter((n) => n["type"] !== "Lowercase") };
    }],
    ["clip-tiny with \"a b\" string merges, the first 60 repeated at the end (a later duplicate's rank wins)", (json: Json) => {
      const merges = modelOf(json)["merges"] as string[][];
      withModel(json, { merges: [...merges, ...merges.slice(0, 60)].map((pair) => pair.join(" ")) });
    }],
    ["clip-tiny with ignore_merges (a word in the vocabulary stays whole)", (json: Json) => withModel(json, { ignore_merges: true })],
    ["clip-tiny without q, x and z in its vocabulary (unknown symbols: the unknown token)", (json: Json) => {
      withModel(json, { vocab: Object.fromEntries(Object.entries(vocabOf(json)).filter(([token]) => !/[qxz]/.test(token))) });
    }],
    ["clip-tiny without q, x and z and without an unknown token (unknown symbols dropped)", (json: Json) => {
      withModel(json, { unk_token: null, vocab: Object.fromEntries(Object.entries(vocabOf(json)).filter(([token]) => !/[qxz]/.test(token))) });
    }],
  ] as const) {
    test(`${name}: 4000 generated texts, each either left to the library or given exactly its ids`, () => {
      const json = readJson(path.join(CLIP, "tokenizer.json"));
      edit(json);
      const config = readJson(path.join(CLIP, "tokenizer_config.json"));
      const library = new Tokenizer(json, config);
      // Vocabulary words as text: without the end-of-word suffix, and some with it.
      const vocab = Object.keys(vocabOf(json)).flatMap((token) => (token.endsWith("</w>") ? [token.slice(0, -4), token.slice(0, -4)] : [token]));
      const texts = generatedTexts(vocab, ["<|startoftext|>", "<|endoftext|>"], 4000, 11);
      expect(expectLibraryIds(asciiClipBpe(json, config, library), library, texts, /<\|(startoftext|endoftext)\|>/i)).toBeGreaterThan(1000);
      expect(texts.filter((text) => /[qxz]/i.test(text)).length).toBeGreaterThan(100);  // symbols outside the trimmed vocabularies
    });
  }

  test("the fixture's texts through TextTokenizer: transformers' ids, the printable-ASCII ones on the fast path (test/fixtures/clip-tiny)", async () => {
    await expectFixtureIds(asciiClipBpe, "clip-tiny", "input_ids");
  });

  test("a tokenizer with anything CLIP's does not have gets no fast path", () => {
    const variants: [string, (json: Json) => void][] = [
      ["byte fallback", (json) => withModel(json, { byte_fallback: true })],
      ["dropout", (json) => withModel(json, { dropout: 0.1 })],
      ["fused unknowns", (json) => withModel(json, { fuse_unk: true })],
      ["a continuing-subword prefix", (json) => withModel(json, { continuing_subword_prefix: "##" })],
      ["another Split pattern", (json) => {
        const pre = json["pre_tokenizer"] as { pretokenizers: Json[] };
        pre.pretokenizers[0] = { ...pre.pretokenizers[0], pattern: { Regex: "[\\p{L}]+|[\\p{N}]+|[^\\s\\p{L}\\p{N}]+" } };
      }],
      ["ByteLevel with a prefix space", (json) => {
        const pre = json["pre_tokenizer"] as { pretokenizers: Json[] };
        pre.pretokenizers[1] = { ...pre.pretokenizers[1], add_prefix_space: true };
      }],
      ["a Prepend normalizer", (json) => {
        const normalizer = json["normalizer"] as { normalizers: Json[] };
        normalizer.normalizers.push({ type: "Prepend", prepend: "x" });
      }],
      ["a Replace normalizer of another regex", (json) => {
        const normalizer = json["normalizer"] as { normalizers: Json[] };
        normalizer.normalizers.push({ type: "Replace", pattern: { Regex: "[aeiou]" }, content: "" });
      }],
    ];
    expectNoFastPath(asciiClipBpe, CLIP, variants, ["bert-tiny", "xlmr-tiny"]);
  });
});

describe("the ASCII Unigram fast path (lib/tokenization/ascii-unigram.ts) gives @huggingface/tokenizers' ids", () => {
  const XLMR = path.join(FIXTURES, "xlmr-tiny");
  type Json = Record<string, unknown>;
  const ADDED = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];
  const modelOf = (json: Json): Json => json["model"] as Json;
  const vocabOf = (json: Json): [string, number][] => modelOf(json)["vocab"] as [string, number][];
  const withoutQxz = (json: Json): void => {
    // Keep the first five (the special tokens at their ids), drop every piece with q, x or z: ids shift, unk_id stays 3.
    json["model"] = { ...modelOf(json), vocab: vocabOf(json).filter(([piece], i) => i < 5 || !/[qxz]/.test(piece)) };
  };
  const metaspace = (json: Json, changes: Json): void => {
    json["pre_tokenizer"] = { ...(json["pre_tokenizer"] as Json), ...changes };
  };

  for (const [name, edit] of [
    ["xlmr-tiny (Nmt, NFKC, runs of spaces to one; Metaspace prepending always)", () => undefined],
    ["xlmr-tiny with XLM-R's own normalizer (Precompiled, Replace of the literal string \" {2,}\")", (json: Json) => {
      json["normalizer"] = { type: "Sequence", normalizers: [{ type: "Precompiled", precompiled_charsmap: "" }, { type: "Replace", pattern: { String: " {2,}" }, content: " " }] };
    }],
    ["xlmr-tiny with Lowercase and Strip", (json: Json) => {
      json["normalizer"] = { type: "Sequence", normalizers: [json["normalizer"], { type: "Lowercase" }, { type: "Strip", strip_left: true, strip_right: true }] };
    }],
    ["xlmr-tiny with prepend_scheme never", (json: Json) => metaspace(json, { prepend_scheme: "never" })],
    ["xlmr-tiny with prepend_scheme first", (json: Json) => metaspace(json, { prepend_scheme: "first" })],
    ["xlmr-tiny without the pieces holding q, x or z (unknown characters)", withoutQxz],
    ["xlmr-tiny with 40 pieces repeated at the end, scored higher (the later id and score win)", (json: Json) => {
      const vocab = vocabOf(json);
      json["model"] = { ...modelOf(json), vocab: [...vocab, ...vocab.slice(5, 400).filter((_, i) => i % 10 === 0).map(([piece]): [string, number] => [piece, -1.5])] };
    }],
  ] as const) {
    test(`${name}: 4000 generated texts, each either left to the library or given exactly its ids`, () => {
      const json = withSupportedNormalizers(readJson(path.join(XLMR, "tokenizer.json")));
      edit(json);
      const config = readJson(path.join(XLMR, "tokenizer_config.json"));
      const library = new Tokenizer(json, config);
      // Pieces as text: the word-start mark dropped.
      const vocab = vocabOf(json).map(([piece]) => piece.replaceAll("\u2581", "")).filter((word) => word !== "");
      const texts = generatedTexts(vocab, ADDED, 4000, 13);
      expect(expectLibraryIds(asciiUnigram(json, config, library), library, texts, /<(s|pad|\/s|unk|mask)>/i)).toBeGreaterThan(1000);
    });
  }

  test("the unknown token's score (the lowest score minus 10) decides between an unknown character and a worse known path", () => {
    const json: Json = { ...withSupportedNormalizers(readJson(path.join(XLMR, "tokenizer.json"))) };
    const vocab: [string, number][] = [["<s>", 0], ["<pad>", 0], ["</s>", 0], ["<unk>", 0], ["\u2581", -1], ["a", -3], ["b", -8], ["qa", -20], ["ab", -0.5]];
    json["model"] = { ...modelOf(json), vocab };
    const config = readJson(path.join(XLMR, "tokenizer_config.json"));
    const library = new Tokenizer(json, config);
    // "qab": ▁ qa b scores -1 - 20 - 8 = -29; ▁ <unk> ab scores -1 + (-20 - 10) - 0.5 = -31.5 (with a penalty of 5: -26.5, and it would win).
    expect(library.encode("qab", { add_special_tokens: false }).ids).toEqual([4, 7, 6]);
    expect(asciiUnigram(json, config, library)?.("qab")).toEqual([4, 7, 6]);
    // "qb": no piece starts with q but the unknown one: ▁ <unk> b.
    expect(asciiUnigram(json, config, library)?.("qb")).toEqual(library.encode("qb", { add_special_tokens: false }).ids);
  });

  test("the fixture's texts through TextTokenizer: transformers' ids, the printable-ASCII ones on the fast path (test/fixtures/xlmr-tiny)", async () => {
    await expectFixtureIds(asciiUnigram, "xlmr-tiny", "plain.fixed.input_ids");
  });

  test("a tokenizer with anything XLM-R's does not have gets no fast path", () => {
    const variants: [string, (json: Json) => void][] = [
      ["byte fallback", (json) => { json["model"] = { ...modelOf(json), byte_fallback: true }; }],
      ["no unk_id", (json) => { json["model"] = { ...modelOf(json), unk_id: null }; }],
      ["a two-character replacement", (json) => metaspace(json, { replacement: "__" })],
      ["an unknown prepend_scheme", (json) => metaspace(json, { prepend_scheme: "sometimes" })],
      ["WhitespaceSplit before Metaspace", (json) => { json["pre_tokenizer"] = { type: "Sequence", pretokenizers: [{ type: "WhitespaceSplit" }, json["pre_tokenizer"]] }; }],
      ["a Replace of an unknown regex", (json) => { json["normalizer"] = { type: "Replace", pattern: { Regex: "a+" }, content: "a" }; }],
      ["a Replace whose content holds a $ pattern", (json) => { json["normalizer"] = { type: "Replace", pattern: { String: "ab" }, content: "$&" }; }],
    ];
    expectNoFastPath(asciiUnigram, XLMR, variants, ["bert-tiny", "clip-tiny"]);
  });
});
