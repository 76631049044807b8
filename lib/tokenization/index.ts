export { TextTokenizer } from "./text-tokenizer";
export type { TokenizerOptions, PairOptions } from "./encode-options";
export type { BatchEncoding } from "./padding";
export type { Side } from "./truncation";
export { TokenizerFileError, type TokenizerErrorCode } from "./errors";
export { readJsonObject, isJsonObject, type JsonObject } from "./read-json-file";
