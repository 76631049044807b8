import { registerModelKind } from "./kinds";
import { loadTextModel, TextEncoderModel, type TextModelOptions, type TextModelSpec } from "./text-encoder-model";

const SPEC: TextModelSpec = { className: "TextToTextE5Model", pooling: "mean_l2", queryPrefix: "query: ", itemPrefix: "passage: " };

export interface E5ModelOptions extends TextModelOptions {
  /** Prepended to queries; default "query: " (E5's training format). */
  queryPrefix?: string;
  /** Prepended to items; default "passage: ". */
  itemPrefix?: string;
}

/**
 * E5 embeddings (BERT or XLM-RoBERTa encoders, e.g. multilingual-e5): the
 * mean of the last hidden states over real tokens only (padding never counts),
 * L2-normalised, [n, hidden_size] float32.
 */
export class TextToTextE5Model extends TextEncoderModel {
  /**
   * Loads a Hugging Face checkpoint folder or a Hub id, as TextToTextBertModel.fromPretrained.
   * @throws CheckpointError, UnsupportedError, RangeError as TextToTextBertModel.fromPretrained.
   */
  static async fromPretrained(idOrDir: string, options: E5ModelOptions = {}): Promise<TextToTextE5Model> {
    for (const key of ["queryPrefix", "itemPrefix"] as const) {
      const value = options[key];
      if (value !== undefined && typeof value !== "string") throw new TypeError(`TextToTextE5Model.fromPretrained: ${key} must be a string but received ${typeof value}`);
    }
    const prefixes: { queryPrefix?: string; itemPrefix?: string } = {};
    if (options.queryPrefix !== undefined) prefixes.queryPrefix = options.queryPrefix;
    if (options.itemPrefix !== undefined) prefixes.itemPrefix = options.itemPrefix;
    return new TextToTextE5Model(await loadTextModel(idOrDir, SPEC, options), SPEC, prefixes);
  }
}

registerModelKind("e5", (dir, options) => TextToTextE5Model.fromPretrained(dir, options));
