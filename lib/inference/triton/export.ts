/**
 * Exports both towers of an embeddings model to a Triton repository, with the
 * manager classes the model names. When the query and items models are the
 * same module (`sameQueryAndItems`), it is exported once, as one model that
 * both names point to, with role "shared": its config.pbtxt says so, and
 * query requests are sent with priority 1 to be served before items.
 */
import type { Device } from "../../device";
import { describe } from "../../dtypes";
import { EmbeddingsModelInterface } from "../../interface";
import type { Tensor } from "../../tensor";
import { JitTraceTritonModelStorageManager, type JitTraceOptions } from "./jit-trace-storage-manager";
import { checkNotDeployed } from "./repository";
import { ModelStorageInfo, type TritonModelStorageManager, type TritonModelStorageManagerClass, type TritonRole } from "./storage-manager";

export interface ExportToTritonOptions {
  /** Model repository root. */
  repository: string;
  /** Base name: the models are "<name>_query" and "<name>_items", or "<name>" when shared. */
  name: string;
  /** Overrides the query model's name (separate towers only). */
  queryName?: string;
  /** Overrides the items model's name (separate towers only). */
  itemsName?: string;
  /** Version folder; default 1. */
  version?: number;
  /** Replace deployed versions. Default false. */
  overwrite?: boolean;
  /** Where the example inputs are made (the models' device by default). */
  device?: Device;
  /** Serving options for JitTraceTritonModelStorageManager (the role is set here). */
  serving?: Omit<JitTraceOptions, "role">;
}

export interface TritonExport {
  /** True when one model serves both (query.modelName === items.modelName). */
  readonly shared: boolean;
  readonly query: ModelStorageInfo;
  readonly items: ModelStorageInfo;
}

function manager(Manager: TritonModelStorageManagerClass, info: ModelStorageInfo, serving: Omit<JitTraceOptions, "role"> | undefined): TritonModelStorageManager {
  const created = new Manager(info);
  if (serving === undefined) return created;
  if (!(created instanceof JitTraceTritonModelStorageManager))
    throw new TypeError(`exportToTriton: serving options apply to JitTraceTritonModelStorageManager, but the model's manager is ${created.constructor.name}`);
  return created.with(serving);
}

/**
 * Traces (or saves) the query and items models and writes them with their
 * config.pbtxt. Both versions are checked before anything is written; a
 * failure in the second export leaves the first one deployed.
 * @throws DeployedVersionError when a version exists (unless overwrite), and
 *   whatever the managers' saveModel throws.
 */
export async function exportToTriton(model: EmbeddingsModelInterface, options: ExportToTritonOptions): Promise<TritonExport> {
  if (!(model instanceof EmbeddingsModelInterface)) throw new TypeError(`exportToTriton: expected an EmbeddingsModelInterface but received ${describe(model)}`);
  if (typeof options !== "object" || options === null) throw new TypeError(`exportToTriton: expected options {repository, name} but received ${describe(options)}`);
  const { repository, name, version = 1, overwrite = false } = options;
  const shared = model.sameQueryAndItems;
  const info = (modelName: string) => new ModelStorageInfo({ repository, modelName, version });
  const query = info(shared ? name : options.queryName ?? `${name}_query`);
  const items = shared ? query : info(options.itemsName ?? `${name}_items`);
  for (const target of shared ? [query] : [query, items]) checkNotDeployed(target, { overwrite, what: "exportToTriton" });

  const save = async (target: ModelStorageInfo, Manager: TritonModelStorageManagerClass, inputs: Record<string, Tensor>, role: TritonRole, module = model.getQueryModel()) => {
    try {
      await manager(Manager, target, options.serving).saveModel(module, inputs, model.isNamedInputs, { overwrite, role });
    } finally {
      for (const t of Object.values(inputs)) t.dispose();
    }
  };
  if (shared) {
    await save(query, model.getQueryModelInferenceManagerClass(), await model.getQueryModelInputs(options.device), "shared");
  } else {
    await save(query, model.getQueryModelInferenceManagerClass(), await model.getQueryModelInputs(options.device), "query");
    await save(items, model.getItemsModelInferenceManagerClass(), await model.getItemsModelInputs(options.device), "items", model.getItemsModel());
  }
  return { shared, query, items };
}
