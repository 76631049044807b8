/**
 * Tokenization of large batches off the JS thread, on a WorkerPool
 * (lib/worker-pool.ts): a batch of 32 long items at maxLength 512 took
 * ~160 ms of synchronous work. Batches under {@link OFF_THREAD_CHARS}
 * characters (after the cap, text-cap.ts) stay on the calling thread, where
 * a message round trip would cost more than it saves; so do all batches
 * when no worker entry exists (the TypeScript sources under ts-node or jest)
 * or with EMBEDDINGS_TORCH_TOKENIZER_WORKERS=0.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { WorkerPool, type WorkerFailure } from "../worker-pool";
import type { BatchEncoding } from "./padding";
import type { TokenizeTask } from "./tokenizer-worker";

const ENTRY = path.join(__dirname, "tokenizer-worker.js");

/** Batches with more characters than this are tokenized on a worker (~5 ms of work on the calling thread). */
export const OFF_THREAD_CHARS = 4096;

function rebuild(failure: WorkerFailure): Error {
  const Class = failure.name === "TypeError" ? TypeError : failure.name === "RangeError" ? RangeError : Error;
  return new Class(failure.message);
}

let pool: WorkerPool<TokenizeTask, BatchEncoding> | null | undefined;

/** The pool, or null where tokenization stays on the calling thread. */
export function tokenizerPool(): WorkerPool<TokenizeTask, BatchEncoding> | null {
  if (pool === undefined) pool = process.env.EMBEDDINGS_TORCH_TOKENIZER_WORKERS === "0" || !fs.existsSync(ENTRY) ? null : new WorkerPool(ENTRY, rebuild);
  return pool;
}
