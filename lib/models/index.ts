/**
 * The embeddings models. Importing a model file registers its kind
 * (lib/models/kinds.ts) for the command line, so this file imports them all.
 */
export { registerModelKind, modelKind, modelKinds, type ModelKindLoader, type ModelKindOptions } from "./kinds";
export {
  TorchScriptEmbeddingsModel,
  type TorchScriptEmbeddingsModelOptions,
  type TorchScriptPretrainedOptions,
} from "./torchscript";
export { TextToTextBertModel } from "./bert";
export { TextToTextE5Model, type E5ModelOptions } from "./e5";
export { TextEncoderModel, type TextModelOptions, type Towers } from "./text-encoder-model";
export { TextToImageClipModel, type ClipModelOptions } from "./clip";
export { SentenceTransformerModel, type SentenceTransformerOptions } from "./sentence-transformer";
export { POOLING_MODES, type PoolingMode } from "./sentence-transformers/config";
export { DEFAULT_MICRO_BATCHING, type MicroBatching, type MicroBatchingOptions, type MicroBatchingSettings, type MicroBatchStats } from "./query-batcher";
