/**
 * Exports an embeddings model to a Triton model repository, by hand (one
 * tower through its manager class) and in one call (both towers).
 *
 *   npx tsc -p tsconfig.json --outDir dist/all && node dist/all/examples/trace-for-triton.js <model-folder> [kind] [repository]
 *
 * <kind>: a registered model kind ("torchscript" for a folder with model.pt
 * and tokenizer files; "bert", "e5", "clip" with the text and image models).
 * Then: tritonserver --model-repository <repository>
 */
import { ModelStorageInfo, exportToTriton, modelKind } from "../lib";

async function main(): Promise<void> {
  const [dir, kind = "torchscript", repository = "./models"] = process.argv.slice(2);
  if (dir === undefined) throw new Error("usage: trace-for-triton.ts <model-folder> [kind] [repository]");
  using model = await modelKind(kind)(dir, {});  // maxLength: the tokenizer's model_max_length

  // One tower, as DESIGN.md shows it: the model names its manager class.
  const Manager = model.getQueryModelInferenceManagerClass();
  const inputs = await model.getQueryModelInputs("cpu");
  try {
    const info = new ModelStorageInfo({ repository, modelName: "example_query", version: 1 });
    await new Manager(info).saveModel(model.getQueryModel(), inputs, model.isNamedInputs, { overwrite: true });
    console.log(`query model: ${info.versionDir}/model.pt, ${info.configPath}`);
  } finally {
    for (const t of Object.values(inputs)) t.dispose();
  }

  // Both towers: "<name>_query" and "<name>_items", or one model "<name>" when
  // they are the same module (then send query requests with priority 1).
  const result = await exportToTriton(model, { repository, name: "example", version: 1, overwrite: true, serving: { maxBatchSize: 32, instanceCount: 2 } });
  console.log(result.shared ? `one shared model: ${result.query.modelDir}` : `query: ${result.query.modelDir}, items: ${result.items.modelDir}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
