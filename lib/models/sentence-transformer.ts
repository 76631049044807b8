/**
 * SentenceTransformerModel: a sentence-transformers folder (or Hub id) run as
 * its modules.json says: the Transformer (BERT, XLM-RoBERTa) natively, then
 * Pooling, Dense and Normalize. Transformer + mean Pooling (+ Normalize), the
 * most common pipeline, pools natively: it trains and exports to Triton like
 * TextToTextE5Model. Other heads run on the host in float64 after a native
 * forward: inference only (no autograd through them, no Triton export).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { describe } from "../dtypes";
import { UnsupportedError } from "../errors";
import { writeFileAtomic } from "../hub/atomic";
import { getSafetensorsWeights, getTextModelFiles, resolvePretrained, type FilePlan } from "../hub/resolve-pretrained";
import { writeSafetensors } from "../hub/safetensors";
import type { TritonModelStorageManagerClass } from "../inference/triton/storage-manager";
import { Tensor } from "../tensor";
import type { BatchEncoding } from "../tokenization";
import { registerModelKind } from "./kinds";
import { readSentenceTransformerConfig, type HeadStage, type SentenceTransformerConfig } from "./sentence-transformers/config";
import { applyDense, normalizeRows, readDenseWeights, type DenseWeights } from "./sentence-transformers/dense";
import { pool, poolingMask } from "./sentence-transformers/pooling";
import { loadTextModel, TextEncoderModel, type LoadedTextModel, type TextModelOptions, type TextModelSpec } from "./text-encoder-model";

export interface SentenceTransformerOptions extends TextModelOptions {
  /** Prepended to queries; default the prompt named `queryPromptName` in config_sentence_transformers.json, else "". */
  queryPrefix?: string;
  /** Prepended to items; default the prompt named `itemPromptName`, else "". */
  itemPrefix?: string;
  /** Default "query". */
  queryPromptName?: string;
  /** Default the first of "document", "passage", "corpus" that the folder defines. */
  itemPromptName?: string;
}

/** modules.json's module types, as sentence-transformers writes them. */
const MODULE_TYPES: Readonly<Record<HeadStage["kind"] | "transformer", string>> = {
  transformer: "sentence_transformers.models.Transformer",
  pooling: "sentence_transformers.models.Pooling",
  dense: "sentence_transformers.models.Dense",
  normalize: "sentence_transformers.models.Normalize",
};
const FOLDER_NAMES: Readonly<Record<HeadStage["kind"], string>> = { pooling: "Pooling", dense: "Dense", normalize: "Normalize" };

/** modules.json, then each module's files: the Transformer's checkpoint, Pooling and Dense configs, Dense weights. */
const SENTENCE_TRANSFORMER_FILES: FilePlan = async (get) => {
  const modulesFile = await get("modules.json");
  await get("config_sentence_transformers.json", { optional: true });
  const modules: unknown = JSON.parse(await fs.promises.readFile(modulesFile as string, "utf8"));
  for (const entry of Array.isArray(modules) ? modules : []) {
    const { type, path: folder } = (entry ?? {}) as { type?: unknown; path?: unknown };
    if (typeof type !== "string" || typeof folder !== "string") continue;  // readSentenceTransformerConfig reports it
    const at = (name: string) => (folder === "" ? name : `${folder}/${name}`);
    const kind = type.split(".").at(-1);
    if (kind === "Transformer") {
      await getTextModelFiles(get, folder);
      await get(at("sentence_bert_config.json"), { optional: true });
    } else if (kind === "Pooling") await get(at("config.json"), { optional: true });
    else if (kind === "Dense") {
      await get(at("config.json"));
      await getSafetensorsWeights(get, folder);
    }
  }
};

/** The native pooling that computes the whole head, if one does. */
function nativePooling(head: readonly HeadStage[]): "mean" | "mean_l2" | undefined {
  const [first, second, ...rest] = head;
  if (first?.kind !== "pooling" || first.modes.length !== 1 || first.modes[0] !== "mean" || !first.includePrompt || rest.length > 0) return undefined;
  if (second === undefined) return "mean";
  return second.kind === "normalize" ? "mean_l2" : undefined;
}

function choosePrefix(explicit: string | undefined, config: SentenceTransformerConfig, names: readonly string[]): string {
  if (explicit !== undefined) return explicit;
  for (const name of names) if (config.prompts[name] !== undefined) return config.prompts[name] as string;
  return config.defaultPromptName === undefined ? "" : (config.prompts[config.defaultPromptName] ?? "");
}

export class SentenceTransformerModel extends TextEncoderModel {
  readonly #config: SentenceTransformerConfig;
  /** Empty when the native pooling computes the head. */
  readonly #hostHead: readonly HeadStage[];
  readonly #dense: ReadonlyMap<HeadStage, DenseWeights>;
  /** The root of the sentence-transformers folder. */
  readonly root: string;

  private constructor(loaded: LoadedTextModel, spec: TextModelSpec, prefixes: { queryPrefix: string; itemPrefix: string }, root: string, config: SentenceTransformerConfig, dense: ReadonlyMap<HeadStage, DenseWeights>) {
    super(loaded, spec, prefixes);
    this.root = root;
    this.#config = config;
    this.#hostHead = spec.pooling === "none" ? config.head : [];
    this.#dense = dense;
  }

  /**
   * Loads a sentence-transformers folder, or a Hub id through the Hugging Face
   * cache: modules.json, the Transformer's checkpoint and tokenizer,
   * sentence_bert_config.json (max_seq_length is the default maxLength),
   * config_sentence_transformers.json (prompts become the prefixes), each
   * Pooling, Dense and Normalize module.
   * @throws CheckpointError / UnsupportedError naming the file (a module type,
   *   pooling mode or activation this package does not run), HubError, and the
   *   errors of TextToTextBertModel.fromPretrained.
   */
  static async fromPretrained(idOrDir: string, options: SentenceTransformerOptions = {}): Promise<SentenceTransformerModel> {
    const where = `SentenceTransformerModel.fromPretrained(${JSON.stringify(idOrDir)})`;
    if (typeof options !== "object" || options === null) throw new TypeError(`${where}: options must be an object but received ${describe(options)}`);
    for (const key of ["queryPrefix", "itemPrefix", "queryPromptName", "itemPromptName"] as const) {
      const value = options[key];
      if (value !== undefined && typeof value !== "string") throw new TypeError(`${where}: ${key} must be a string but received ${describe(value)}`);
    }
    const root = await resolvePretrained(idOrDir, SENTENCE_TRANSFORMER_FILES, options, where);
    const config = await readSentenceTransformerConfig(root);
    if (config.head.length === 0 || config.head[0]?.kind !== "pooling")
      throw new UnsupportedError(`${where}: ${path.join(root, "modules.json")}: the Transformer must be followed by a Pooling module (its token embeddings are no sentence embedding)`);
    const pooling = nativePooling(config.head) ?? "none";
    const spec: TextModelSpec = { className: "SentenceTransformerModel", pooling, queryPrefix: "", itemPrefix: "" };
    const dense = new Map<HeadStage, DenseWeights>();
    for (const stage of config.head) if (stage.kind === "dense") dense.set(stage, await readDenseWeights(root, stage));
    const maxLength = options.maxLength ?? config.maxSeqLength;
    const loaded = await loadTextModel(path.join(root, config.transformerPath), spec, { ...options, ...(maxLength === undefined ? {} : { maxLength }) });
    const prefixes = {
      queryPrefix: choosePrefix(options.queryPrefix, config, [options.queryPromptName ?? "query"]),
      itemPrefix: choosePrefix(options.itemPrefix, config, options.itemPromptName === undefined ? ["document", "passage", "corpus"] : [options.itemPromptName]),
    };
    return new SentenceTransformerModel(loaded, spec, prefixes, root, config, dense);
  }

  /** Whether Pooling, Dense and Normalize all run natively (then training and Triton export work). */
  get isNativePipeline(): boolean {
    return this.#hostHead.length === 0;
  }

  /** @throws UnsupportedError with `grad` when part of the head runs on the host (no autograd there). */
  override async encode(texts: readonly string[], options: { kind: "query" | "items"; grad?: boolean }): Promise<Tensor> {
    if (options.grad === true && !this.isNativePipeline)
      throw new UnsupportedError(`SentenceTransformerModel(${this.root}): training needs the head to run natively, which holds for mean Pooling (+ Normalize) only; this folder's head is ${this.#describeHead()}`);
    return super.encode(texts, options);
  }

  protected override async finishBatch(output: Tensor, encoding: BatchEncoding, kind: "query" | "items"): Promise<Tensor> {
    if (this.isNativePipeline) return output;
    const [batch = 0, length = 0, hidden = 0] = output.shape;
    let values: Float64Array = new Float64Array(0);
    try {
      const states = { data: output.toFloat32Array(), batch, length, hidden };
      for (const stage of this.#hostHead) {
        if (stage.kind === "pooling") {
          const prompt = stage.includePrompt ? 0 : this.#promptTokens(kind === "query" ? this.queryPrefix : this.itemPrefix);
          values = pool(states, poolingMask(encoding.attentionMask, batch, length, prompt), stage.modes);
        } else if (stage.kind === "dense") values = applyDense(values, batch, this.#dense.get(stage) as DenseWeights);
        else values = normalizeRows(values, batch);
      }
    } finally {
      output.dispose();
    }
    return Tensor.from(Float32Array.from(values), [batch, values.length / batch], { device: this.device });
  }

  /** sentence-transformers' prompt length: the prompt's tokens with the leading special token, without a trailing one. */
  #promptTokens(prefix: string): number {
    if (prefix === "") return 0;
    const alone = this.tokenizer.encodeBatch([prefix], { maxLength: this.maxLength, padding: "longest" }).length;
    const specials = this.tokenizer.encodeBatch([""], { maxLength: this.maxLength, padding: "longest" }).length;
    return specials >= 2 ? alone - 1 : alone;
  }

  #describeHead(): string {
    return this.#config.head.map((s) => (s.kind === "pooling" ? `Pooling(${s.modes.join("+")}${s.includePrompt ? "" : ", include_prompt false"})` : s.kind === "dense" ? `Dense(${s.activation})` : "Normalize")).join(" -> ");
  }

  override getQueryModelInferenceManagerClass(): TritonModelStorageManagerClass {
    this.#checkExportable();
    return super.getQueryModelInferenceManagerClass();
  }

  override getItemsModelInferenceManagerClass(): TritonModelStorageManagerClass {
    this.#checkExportable();
    return super.getItemsModelInferenceManagerClass();
  }

  #checkExportable(): void {
    if (!this.isNativePipeline)
      throw new UnsupportedError(`SentenceTransformerModel(${this.root}): Triton export needs the head to run natively (mean Pooling, + Normalize); this folder's head is ${this.#describeHead()}`);
  }

  /**
   * Writes a sentence-transformers folder that `fromPretrained` and
   * sentence-transformers load: the Transformer at the root (as
   * TextToTextBertModel.savePretrained writes it), modules.json,
   * sentence_bert_config.json (maxLength), config_sentence_transformers.json
   * (the prefixes as the "query" and "document" prompts), `<i>_Pooling`,
   * `<i>_Dense` (config.json, model.safetensors) and `<i>_Normalize`.
   */
  override async savePretrained(dir: string): Promise<void> {
    await super.savePretrained(dir);
    const modules: { idx: number; name: string; path: string; type: string }[] = [{ idx: 0, name: "0", path: "", type: MODULE_TYPES.transformer }];
    for (const [i, stage] of this.#config.head.entries()) {
      const folder = `${i + 1}_${FOLDER_NAMES[stage.kind]}`;
      modules.push({ idx: i + 1, name: String(i + 1), path: folder, type: MODULE_TYPES[stage.kind] });
      await fs.promises.mkdir(path.join(dir, folder), { recursive: true });
      if (stage.kind === "pooling") await writeJson(path.join(dir, folder, "config.json"), stage.config);
      if (stage.kind === "dense") {
        await writeJson(path.join(dir, folder, "config.json"), stage.config);
        const weights = this.#dense.get(stage) as DenseWeights;
        using weight = Tensor.from(weights.weight, [stage.outFeatures, stage.inFeatures]);
        using bias = weights.bias === undefined ? undefined : Tensor.from(weights.bias, [stage.outFeatures]);
        await writeSafetensors(path.join(dir, folder, "model.safetensors"), bias === undefined ? { "linear.weight": weight } : { "linear.weight": weight, "linear.bias": bias });
      }
    }
    await writeJson(path.join(dir, "modules.json"), modules);
    await writeJson(path.join(dir, "sentence_bert_config.json"), { max_seq_length: this.maxLength, do_lower_case: false });
    const prompts = { ...this.#config.prompts, query: this.queryPrefix, document: this.itemPrefix };
    await writeJson(path.join(dir, "config_sentence_transformers.json"), { ...this.#config.settings, prompts });
  }
}

function writeJson(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

registerModelKind("sentence-transformers", (dir, options) => SentenceTransformerModel.fromPretrained(dir, options));
