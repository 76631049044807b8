/**
 * The entry of a tokenizer worker thread (tokenizer-pool.ts): loads a
 * tokenizer folder once (kept per folder) and encodes batches with it; the
 * id arrays are moved back, not copied.
 */
import { parentPort } from "node:worker_threads";

import { describeFailure, postReply } from "../worker-pool";
import type { TokenizerOptions } from "./encode-options";
import { TextTokenizer } from "./text-tokenizer";

export interface TokenizeTask {
  /** The folder the caller's TextTokenizer was loaded from. */
  readonly dir: string;
  readonly texts: readonly string[];
  readonly options: TokenizerOptions;
}

const loaded = new Map<string, Promise<TextTokenizer>>();

const port = parentPort;
port?.on("message", (task: TokenizeTask & { id: number }) => {
  void (async () => {
    try {
      let tokenizer = loaded.get(task.dir);
      if (tokenizer === undefined) loaded.set(task.dir, (tokenizer = TextTokenizer.fromPretrained(task.dir)));
      const encoding = (await tokenizer).encodeBatch(task.texts, task.options);
      postReply(port, { id: task.id, result: encoding }, [encoding.inputIds.buffer, encoding.attentionMask.buffer, encoding.tokenTypeIds.buffer]);
    } catch (error) {
      port.postMessage({ id: task.id, error: describeFailure(error) });
    }
  })();
});
