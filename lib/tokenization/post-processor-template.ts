/**
 * Where special tokens go around the text, read from tokenizer.json's
 * `post_processor`. Hugging Face truncates the text's tokens first and adds
 * the template's special tokens afterwards, so a truncated text still ends in
 * [SEP] / </s>; this module gives the batching code that template.
 * Type ids follow the Rust `tokenizers` crate (processors/{template,bert,roberta}.rs).
 */
import { TokenizerFileError, describeValue } from "./errors";
import { isJsonObject, type JsonObject } from "./read-json-file";

/** Special token ids, or the tokens of text A (0) or B (1), with their token type id. */
export type TemplatePiece =
  | { readonly kind: "special"; readonly ids: readonly number[]; readonly typeId: number }
  | { readonly kind: "sequence"; readonly sequence: 0 | 1; readonly typeId: number };

/** The layout of one text and of a pair of texts. */
export interface EncodingTemplate {
  readonly single: readonly TemplatePiece[];
  readonly pair: readonly TemplatePiece[];
}

const A0: TemplatePiece = { kind: "sequence", sequence: 0, typeId: 0 };
const B0: TemplatePiece = { kind: "sequence", sequence: 1, typeId: 0 };
const B1: TemplatePiece = { kind: "sequence", sequence: 1, typeId: 1 };
/** No post-processor (or ByteLevel, which only fixes offsets): the texts alone, B with type id 1. */
const PLAIN: EncodingTemplate = { single: [A0], pair: [A0, B1] };

/** How many special tokens a layout adds. */
export function specialTokenCount(pieces: readonly TemplatePiece[]): number {
  let count = 0;
  for (const piece of pieces) if (piece.kind === "special") count += piece.ids.length;
  return count;
}

/**
 * Parses tokenizer.json's `post_processor` (null, TemplateProcessing,
 * BertProcessing, RobertaProcessing, ByteLevel, or a Sequence of these in
 * which at most one adds special tokens).
 *
 * @param where prefix for error messages, naming the operation and file.
 * @throws TokenizerFileError `ERR_CHECKPOINT` for a malformed entry, `ERR_UNSUPPORTED` for another type.
 */
export function parsePostProcessor(config: unknown, where: string): EncodingTemplate {
  if (config === null || config === undefined) return PLAIN;
  const at = `${where}: post_processor`;
  if (!isJsonObject(config)) throw new TokenizerFileError(`${at}: expected an object or null, found ${describeValue(config)}`);
  switch (config["type"]) {
    case "ByteLevel":
      return PLAIN;
    case "TemplateProcessing":
      return parseTemplateProcessing(config, at);
    case "BertProcessing": {
      const cls = special(config, "cls", at, 0);
      const sep = special(config, "sep", at, 0);
      return { single: [cls, A0, sep], pair: [cls, A0, sep, B1, { ...sep, typeId: 1 }] };
    }
    case "RobertaProcessing": {
      // Rust sets every type id of a Roberta encoding, text B included, to 0.
      const cls = special(config, "cls", at, 0);
      const sep = special(config, "sep", at, 0);
      return { single: [cls, A0, sep], pair: [cls, A0, sep, sep, B0, sep] };
    }
    case "Sequence":
      return parseSequence(config, at, where);
    default:
      throw new TokenizerFileError(
        `${at}.type ${describeValue(config["type"])} is not supported ` +
          "(supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)",
        "ERR_UNSUPPORTED",
      );
  }
}

function parseSequence(config: JsonObject, at: string, where: string): EncodingTemplate {
  const processors = config["processors"];
  if (!Array.isArray(processors)) {
    throw new TokenizerFileError(`${at}.processors: expected an array, found ${describeValue(processors)}`);
  }
  const adding = processors
    .map((processor) => parsePostProcessor(processor, where))
    .filter((template) => template !== PLAIN);
  if (adding.length > 1) {
    throw new TokenizerFileError(`${at}: a Sequence with ${adding.length} processors that add special tokens is not supported`, "ERR_UNSUPPORTED");
  }
  return adding[0] ?? PLAIN;
}

/** `"cls": ["[CLS]", 101]` of BertProcessing / RobertaProcessing. */
function special(config: JsonObject, key: string, at: string, typeId: number): TemplatePiece {
  const entry = config[key];
  const id: unknown = Array.isArray(entry) ? entry[1] : undefined;
  if (!isTokenId(id)) {
    throw new TokenizerFileError(`${at}.${key}: expected [token, id] with an integer id, found ${describeValue(entry)}`);
  }
  return { kind: "special", ids: [id], typeId };
}

function parseTemplateProcessing(config: JsonObject, at: string): EncodingTemplate {
  const specials = config["special_tokens"];
  const specialIds = (name: unknown, where: string): readonly number[] => {
    const entry = isJsonObject(specials) && typeof name === "string" ? specials[name] : undefined;
    const ids = isJsonObject(entry) ? entry["ids"] : undefined;
    if (!Array.isArray(ids) || !ids.every(isTokenId)) {
      throw new TokenizerFileError(`${where}: special token ${describeValue(name)} has no integer ids in post_processor.special_tokens`);
    }
    return ids;
  };
  const parse = (key: "single" | "pair"): TemplatePiece[] => {
    const items = config[key];
    if (!Array.isArray(items)) throw new TokenizerFileError(`${at}.${key}: expected an array, found ${describeValue(items)}`);
    return items.map((item: unknown, i): TemplatePiece => {
      const where = `${at}.${key}[${i}]`;
      const body = isJsonObject(item) ? (item["SpecialToken"] ?? item["Sequence"]) : undefined;
      if (!isJsonObject(item) || !isJsonObject(body)) {
        throw new TokenizerFileError(`${where}: expected {"SpecialToken": …} or {"Sequence": …}, found ${describeValue(item)}`);
      }
      const typeId = body["type_id"] ?? 0;
      if (!isTokenId(typeId)) throw new TokenizerFileError(`${where}.type_id: expected an integer, found ${describeValue(typeId)}`);
      if ("SpecialToken" in item) return { kind: "special", ids: specialIds(body["id"], where), typeId };
      if (body["id"] === "A") return { kind: "sequence", sequence: 0, typeId };
      if (body["id"] === "B") return { kind: "sequence", sequence: 1, typeId };
      throw new TokenizerFileError(`${where}.Sequence.id: expected "A" or "B", found ${describeValue(body["id"])}`);
    });
  };
  return { single: parse("single"), pair: parse("pair") };
}

function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}
