import { registerModelKind } from "./kinds";
import { loadTextModel, TextEncoderModel, type TextModelOptions, type TextModelSpec } from "./text-encoder-model";

const SPEC: TextModelSpec = { className: "TextToTextBertModel", pooling: "pooler", queryPrefix: "", itemPrefix: "" };

/**
 * Text-to-text embeddings with a BERT (or XLM-RoBERTa) checkpoint: the
 * embedding is Hugging Face's `pooler_output` (dense + tanh of the first
 * token), [n, hidden_size] float32. Queries and items share the encoder.
 */
export class TextToTextBertModel extends TextEncoderModel {
  /**
   * Loads a Hugging Face checkpoint folder (config.json, model.safetensors,
   * tokenizer.json, tokenizer_config.json), or a Hub id ("org/name",
   * `revision` in options) from the Hugging Face cache, downloading what it lacks.
   * @throws CheckpointError for missing/corrupt files or weights that do not fit,
   *   UnsupportedError for another model_type, RangeError for bad options,
   *   HubError for an id the cache lacks offline (ERR_HUB_OFFLINE) or a refused download.
   */
  static async fromPretrained(idOrDir: string, options: TextModelOptions = {}): Promise<TextToTextBertModel> {
    return new TextToTextBertModel(await loadTextModel(idOrDir, SPEC, options), SPEC);
  }
}

registerModelKind("bert", (dir, options) => TextToTextBertModel.fromPretrained(dir, options));
