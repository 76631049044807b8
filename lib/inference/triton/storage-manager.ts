/**
 * Where a model lives in a Triton model repository, and the abstract manager
 * that writes it there (`<repository>/<name>/config.pbtxt`,
 * `<repository>/<name>/<version>/model.pt`).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import type { Module } from "../../module";
import type { Tensor } from "../../tensor";

/** Triton accepts model names of letters, digits, '_', '-', '.' (not starting with '.'). */
const MODEL_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

export interface ModelStorageInfoOptions {
  /** Model repository root; default "./models". */
  repository?: string;
  /** Model name: a folder name Triton accepts. */
  modelName: string;
  /** Version folder, a positive integer; default 1. */
  version?: number;
}

/** A model's place in a Triton repository. @throws TypeError/RangeError for unsafe names or versions. */
export class ModelStorageInfo {
  readonly repository: string;
  readonly modelName: string;
  readonly version: number;

  constructor(options: ModelStorageInfoOptions) {
    const { repository = "./models", modelName, version = 1 } = options;
    if (typeof repository !== "string" || repository === "") throw new TypeError(`ModelStorageInfo: repository must be a non-empty path but received ${JSON.stringify(repository)}`);
    if (typeof modelName !== "string") throw new TypeError(`ModelStorageInfo: modelName must be a string but received ${typeof modelName}`);
    if (!MODEL_NAME.test(modelName) || modelName.includes(".."))
      throw new RangeError(`ModelStorageInfo: model name ${JSON.stringify(modelName)} is not a Triton model name (letters, digits, '_', '-', '.'; no '/', no '..', not starting with '.')`);
    if (!Number.isSafeInteger(version) || version < 1) throw new RangeError(`ModelStorageInfo: version must be a positive integer but received ${String(version)}`);
    this.repository = path.resolve(repository);
    this.modelName = modelName;
    this.version = version;
  }

  /** `<repository>/<name>` */
  get modelDir(): string {
    return path.join(this.repository, this.modelName);
  }

  /** `<repository>/<name>/<version>` */
  get versionDir(): string {
    return path.join(this.modelDir, String(this.version));
  }

  /** `<repository>/<name>/config.pbtxt` */
  get configPath(): string {
    return path.join(this.modelDir, "config.pbtxt");
  }
}

/**
 * What a model serves, which decides its request priority: queries are served
 * before items. "shared": one model serves both (query and items towers are
 * the same module, exported once).
 */
export type TritonRole = "query" | "items" | "shared";

/** Options every storage manager's saveModel understands. */
export interface SaveModelOptions {
  /** Replace an already deployed version. Default false: a deployed version is never touched. */
  overwrite?: boolean;
  /** Overrides the manager's role (its class default). */
  role?: TritonRole;
}

/** Writes models into a Triton repository. */
export abstract class TritonModelStorageManager {
  constructor(readonly storageInfo: ModelStorageInfo) {}

  /** True when this version's model file and the config exist. */
  isModelDeployed(): boolean {
    return fs.existsSync(this.storageInfo.configPath) && fs.existsSync(this.modelFile());
  }

  /** The model file inside the version folder (e.g. model.pt). */
  abstract modelFile(): string;

  /**
   * Exports `module` on `exampleInputs` and writes the version folder and
   * config.pbtxt. @throws Error when the version is deployed and not `overwrite`.
   */
  abstract saveModel(module: Module, exampleInputs: Readonly<Record<string, Tensor>>, namedInputs: boolean, options?: SaveModelOptions): Promise<void>;
}

/** A concrete manager class, as get*ModelInferenceManagerClass() returns it. */
export type TritonModelStorageManagerClass = new (storageInfo: ModelStorageInfo) => TritonModelStorageManager;
