/**
 * The one batching loop of the models' encode calls (forwardItems,
 * encodeQueries, encodeItems of every model): inputs in batches of
 * `batchSize`, each prepared (tokenized, images decoded: JS or worker-thread
 * work) and run through a tower, the outputs joined in order.
 *
 * Batch i + 1 is prepared while batch i's forward runs on the compute thread:
 * a corpus no longer leaves the cores idle while each batch is tokenized or
 * its images decoded. Forwards still run one after another, in order, so
 * results (and a training step's recorded graph) are what the sequential
 * loop gave.
 */
import { cat } from "../ops";
import type { Tensor } from "../tensor";

export interface BatchSteps<P> {
  /** Prepares inputs [start, end): what a forward takes. What it throws fails the call. */
  prepare(start: number, end: number): Promise<P>;
  /** One forward over a prepared batch: [rows, dim]. It owns `prepared` from here on. */
  forward(prepared: P): Promise<Tensor>;
  /** Frees a batch that was prepared but never given to forward (the call failed first). */
  discard?(prepared: P): void;
}

/**
 * [count, dim]: the forwards of every batch, joined (one batch: its output as it is).
 * @throws what prepare or forward threw first; later batches are not run.
 */
export async function forwardInBatches<P>(count: number, batchSize: number, steps: BatchSteps<P>): Promise<Tensor> {
  const parts: Tensor[] = [];
  let next: Promise<P> | undefined = count > 0 ? steps.prepare(0, Math.min(batchSize, count)) : undefined;
  try {
    for (let start = 0; start < count; start += batchSize) {
      const prepared = await (next as Promise<P>);
      next = undefined;
      const output = steps.forward(prepared);  // dispatched (its native call queued) before the next batch is prepared
      const end = start + batchSize;
      if (end < count) {
        next = steps.prepare(end, Math.min(end + batchSize, count));
        // Handled from now on (a failure while the forward runs is no unhandled rejection); awaited next round.
        next.catch(() => undefined);
      }
      parts.push(await output);
    }
    return parts.length === 1 ? (parts.pop() as Tensor) : await cat(parts, 0);
  } finally {
    for (const part of parts) part.dispose();
    // A batch prepared for a forward that will not run: freed once ready; its failure is not the call's.
    next?.then((prepared) => steps.discard?.(prepared), () => undefined);
  }
}
