// WIP placeholder (not committed): replaced by the tracing branch.
import { TritonModelStorageManager } from "./storage-manager";
export class JitTraceTritonModelStorageManager extends TritonModelStorageManager {
  modelFile(): string { return ""; }
  async saveModel(): Promise<void> { throw new Error("not yet"); }
}
