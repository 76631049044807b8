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
// TODO(#4): the text models (bert.ts, e5.ts, clip.ts) export here too, each file
// ending with its registerModelKind("bert" | "e5" | "clip", (dir, o) => X.fromPretrained(dir, o)).
