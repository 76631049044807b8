/**
 * Rewrites normalizers that `@huggingface/tokenizers` (0.2.0) lacks into
 * equivalent ones it has, so that a tokenizer.json written by the Rust
 * `tokenizers` crate gives the same ids in JS.
 *
 * Nmt (SentencePiece's NMT normalisation, used by XLM-R / E5 tokenizers) is
 * missing: the JS library throws "Unknown Normalizer type: Nmt". It is two
 * per-character rules (Rust: tokenizers/src/normalizers/unicode.rs, `do_nmt`):
 * drop some ASCII control characters, then map a set of whitespace-like
 * code points to a space. Both are `Replace` normalizers with a character class.
 */
import { isJsonObject, type JsonObject } from "./read-json-file";

/** Control characters Nmt removes: U+0001-0008, U+000B, U+000E-001F, U+007F, U+008F, U+009F. */
export const NMT_REMOVED = "[\\x{1}-\\x{8}\\x{B}\\x{E}-\\x{1F}\\x{7F}\\x{8F}\\x{9F}]";

/** Code points Nmt maps to U+0020: tab, LF, FF, CR, U+1680, U+200B-200F, U+2028, U+2029, U+2581, U+FEFF, U+FFFD. */
export const NMT_TO_SPACE = "[\\x{9}\\x{A}\\x{C}\\x{D}\\x{1680}\\x{200B}-\\x{200F}\\x{2028}\\x{2029}\\x{2581}\\x{FEFF}\\x{FFFD}]";

const NMT_EQUIVALENT: JsonObject = {
  type: "Sequence",
  normalizers: [
    { type: "Replace", pattern: { Regex: NMT_REMOVED }, content: "" },
    { type: "Replace", pattern: { Regex: NMT_TO_SPACE }, content: " " },
  ],
};

/**
 * A copy of a tokenizer.json object whose normalizer (at any depth of a
 * `Sequence`) uses only normalizers the JS library implements. The input is
 * not modified; parts that need no rewrite are shared.
 */
export function withSupportedNormalizers(tokenizerJson: JsonObject): JsonObject {
  const normalizer = tokenizerJson["normalizer"];
  const rewritten = rewriteNormalizer(normalizer);
  return rewritten === normalizer ? tokenizerJson : { ...tokenizerJson, normalizer: rewritten };
}

function rewriteNormalizer(config: unknown): unknown {
  if (!isJsonObject(config)) return config;
  if (config["type"] === "Nmt") return NMT_EQUIVALENT;
  const children = config["normalizers"];
  if (config["type"] === "Sequence" && Array.isArray(children)) {
    const rewritten: unknown[] = children.map(rewriteNormalizer);
    return rewritten.every((child, i) => child === children[i]) ? config : { ...config, normalizers: rewritten };
  }
  return config;
}
